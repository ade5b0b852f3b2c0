"""A sandbox for ``tools.dev``: a git clone-like copy of the project, a stand-in Pulumi CLI that
records every call, and a stand-in engine answering the Docker API on a real unix socket.

Nothing here looks at the machine's own sockets or tools: PATH holds only the stand-ins, and the
engine is named by DOCKER_HOST, so the tests behave the same with or without a system engine.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2]
COPIED = ("tools", "components/__init__.py", "components/engine_facts.py", "Pulumi.yaml", "Pulumi.dev.yaml",
          ".gitignore", ".github/workflows", "deploy/backend.env")
SALT = "v1:c2FsdHNhbHQ=:v1:bm9uY2U=:Y2lwaGVy"
STAND_IN_PULUMI = r'''
import json, os, sys
from pathlib import Path
argv = sys.argv[1:]
cwd = os.getcwd()
if argv[:1] == ["-C"]:
    cwd, argv = argv[1], argv[2:]
config_file = argv[argv.index("--config-file") + 1] if "--config-file" in argv else None
record = {"argv": argv, "cwd": cwd,
          "config": Path(config_file).read_text() if config_file and Path(config_file).exists() else None,
          "env": {k: os.environ.get(k) for k in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE")}}
with open(os.environ["CALLS"], "a") as calls:
    calls.write(json.dumps(record) + "\n")
marker = Path(os.environ["STACKS"]) / "dev"
if argv == ["version"]:
    print(os.environ.get("STAND_IN_VERSION", "v3.272.0"))
elif argv[:2] == ["stack", "select"]:
    sys.exit(0 if marker.exists() else 1)
elif argv[:2] in (["stack", "init"], ["stack", "change-secrets-provider"]):
    Path(cwd, "Pulumi.dev.yaml").write_text("secretsprovider: passphrase\nencryptionsalt: %s\n")
    marker.touch()
elif argv[:2] == ["stack", "export"]:
    print(json.dumps({"deployment": {"resources": [
        {"type": "docker:index/volume:Volume", "outputs": {"name": "egoengine-dev-postgres-data"}},
        {"type": "docker:index/container:Container", "outputs": {"name": "egoengine-dev-coder"}}]}}))
elif argv[:2] == ["stack", "rm"]:
    marker.unlink()
''' % SALT


@dataclass
class FakeEngine:
    """Answers ``/_ping``, ``/version`` (Podman) and ``/info``; records DELETEs."""

    socket_path: Path
    rootless: bool = False
    deleted: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"


def _serve(engine: FakeEngine) -> socketserver.UnixStreamServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any) -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            routes = {"/_ping": "OK", "/version": {"Components": [{"Name": "Podman Engine"}]},
                      "/info": {"Rootless": engine.rootless}}
            self._send(200, routes[self.path]) if self.path in routes else self._send(404, {"message": "no"})

        def do_DELETE(self) -> None:  # noqa: N802
            engine.deleted.append(self.path)
            self._send(204, "")

        def log_message(self, *args: Any) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

        def get_request(self) -> tuple[Any, Any]:
            request, _ = super().get_request()
            return request, ("engine", 0)  # BaseHTTPRequestHandler wants a (host, port) address

    server = Server(str(engine.socket_path), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Sandbox:
    project: Path
    bin: Path
    env: dict[str, str]
    engine: FakeEngine

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tools.dev", *args], cwd=self.project, env=self.env,
                              input=stdin, capture_output=True, text=True, timeout=60)

    def calls(self) -> list[dict[str, Any]]:
        """Every recorded Pulumi call but ``pulumi version`` (the prerequisite check)."""
        path = Path(self.env["CALLS"])
        recorded = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return [call for call in recorded if call["argv"] != ["version"]]

    def stand_in(self, name: str, body: str = "") -> None:
        path = self.bin / name
        path.write_text(f"#!{sys.executable}\n{body}\n")
        path.chmod(0o755)

    def with_pulumi_and_pg_dump(self) -> Sandbox:
        self.stand_in("pulumi", STAND_IN_PULUMI)
        self.stand_in("pg_dump")
        return self

    def git_status(self) -> str:
        return subprocess.run(["git", "status", "--porcelain"], cwd=self.project, capture_output=True,
                              text=True, check=True).stdout


@pytest.fixture()
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    project = tmp_path / "project"
    for item in COPIED:
        source, target = PROJECT / item, project / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "fixture"], cwd=project, check=True)
    bin_dir, stacks = tmp_path / "bin", tmp_path / "stacks"
    bin_dir.mkdir()
    stacks.mkdir()
    engine = FakeEngine(tmp_path / "engine.sock")
    server = _serve(engine)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "CALLS": str(tmp_path / "calls.jsonl"),
           "STACKS": str(stacks), "DOCKER_HOST": engine.host, "PYTHONDONTWRITEBYTECODE": "1"}
    yield Sandbox(project, bin_dir, env, engine)
    server.shutdown()
    server.server_close()

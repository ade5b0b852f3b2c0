"""A deploy machine for ``tools.doctor`` in a temp dir: stand-in tools, a real socket, a stack file."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import doctor

PROJECT = Path(__file__).resolve().parents[2]
GOOD_VERSIONS = {
    "pulumi": "v3.272.0",
    "pg_dump": "pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)",
    "skopeo": "skopeo version 1.9.3",
    "docker": "Docker version 28.2.2, build 28.2.2",
    "op": "2.30.3",
}


class Machine:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self.monkeypatch = root, monkeypatch
        self.project, self.bin = root / "project", root / "bin"
        self.project.mkdir()
        self.bin.mkdir()
        shutil.copy(PROJECT / "requirements.txt", self.project / "requirements.txt")
        # AF_UNIX paths are limited to 107 bytes, which pytest's temp paths can exceed.
        self.socket_path = Path(tempfile.mkdtemp(prefix="doctor-")) / "engine.sock"
        self.backend = root / "state"
        self.backend.mkdir()
        monkeypatch.setenv("PATH", str(self.bin))
        monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{self.backend}")
        for variable in ("PGPASSWORD", "PGPASSFILE", "OP_CLI_PATH"):
            monkeypatch.delenv(variable, raising=False)

    def tool(self, name: str, version_line: str) -> None:
        path = self.bin / name
        path.write_text(f"#!/bin/sh\necho '{version_line}'\n")
        path.chmod(0o755)

    def all_tools(self) -> None:
        for name, line in GOOD_VERSIONS.items():
            self.tool(name, line)

    def stack(self, **overrides: Any) -> None:
        config: dict[str, Any] = {
            "egoengine:engine": {"host": f"unix://{self.socket_path}"},
            "egoengine:coder": {"version": "v2.25.1", "digest": "sha256:" + "e1" * 32,
                                "accessUrl": "https://coder.example.com"},
            "egoengine:backup": {"directory": str(self.root / "backups"), "pgDump": "pg_dump"},
            "egoengine:secrets": {"adminPassword": "op://egoengine/Coder Admin/password"},
            "egoengine:images": {"base": {"tag": "22bba72"}, "children": [
                {"name": "creative-lab", "builder": "containerfile", "context": "images/creative-lab",
                 "repository": "ghcr.io/example/creative-lab"}]},
        }
        config.update({f"egoengine:{key}": value for key, value in overrides.items()})
        (self.project / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": config}))

    def run(self, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
        status = doctor.main(["--project-dir", str(self.project), "prod"])
        captured = capsys.readouterr()
        return status, captured.out.splitlines(), captured.err


@pytest.fixture()
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    box = Machine(tmp_path, monkeypatch)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(box.socket_path))
        listener.listen(1)
        yield box
    shutil.rmtree(box.socket_path.parent, ignore_errors=True)

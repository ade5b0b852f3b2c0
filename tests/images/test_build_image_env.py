"""``tools.build_image`` keeps the inherited environment's secrets away from docker, skopeo and nix.

pulumi-command gives a helper the provider's whole environment (the deploy's passphrase and tokens
included). The tool runs here as a real subprocess with canary values in that environment, and
stand-ins for docker, skopeo and nix that behave like them (a registry without the tag, a build,
a push writing its digest file) and record their environment, arguments and the files they were
given. No canary may reach the tool's output, any stand-in's environment or any file it wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NIX_FLAKE = REPO_ROOT / "tests" / "unit" / "fixtures" / "nix-child"
DIGEST = "sha256:" + "ab" * 32
BASE = f"registry.test/egoengine:22bba72@{DIGEST}"
CANARIES = {
    "PULUMI_CONFIG_PASSPHRASE": "canary-passphrase-7f3a",
    "OP_SERVICE_ACCOUNT_TOKEN": "canary-op-token-91cc",
    "GITHUB_TOKEN": "canary-github-token-5d20",
    "AWS_SECRET_ACCESS_KEY": "canary-aws-secret-e4b1",
    "PULUMI_ACCESS_TOKEN": "canary-pulumi-token-0a9e",
}
REGISTRY_PASSWORD = "registry-password-c3d4"

# One stand-in for all three tools (dispatching on its name), recording what it saw in $DUMPS.
STAND_IN = r'''#!{python}
import json, os, shutil, sys, uuid
from pathlib import Path
DUMPS = Path({dumps!r})
tool, args = Path(sys.argv[0]).name, sys.argv[1:]
record = DUMPS / f"{{tool}}-{{uuid.uuid4().hex}}"
record.mkdir()
(record / "env.json").write_text(json.dumps(dict(os.environ)))
(record / "argv.json").write_text(json.dumps(args))
def keep(path):
    path = Path(path)
    if path.is_dir():
        shutil.copytree(path, record / "files" / path.name, symlinks=True)
    elif path.is_file():
        (record / "files").mkdir(exist_ok=True)
        shutil.copy(path, record / "files" / path.name)
def value(flag):
    return args[args.index(flag) + 1] if flag in args else None
config = {{"User": "joshsymonds", "Env": ["HOME=/home/joshsymonds", "PATH=/usr/bin"], "Cmd": ["bash"]}}
for flag in ("--authfile", "--dest-authfile"):
    if value(flag):
        keep(value(flag))
if os.environ.get("DOCKER_CONFIG"):
    keep(os.environ["DOCKER_CONFIG"])
if tool == "skopeo" and args[0] == "inspect":
    if "--format" in args:
        print('time="x" level=fatal msg="manifest unknown"', file=sys.stderr)
        sys.exit(1)
    print(json.dumps({{"config": config}}))
elif tool == "skopeo" and args[0] == "copy":
    Path(value("--digestfile") or os.devnull).write_text({digest!r})
elif tool == "docker" and args[:2] == ["image", "inspect"]:
    print(json.dumps(config))
elif tool == "docker" and args[0] == "build":
    keep(args[-1])
    print("STEP 1/2: FROM base")
elif tool == "nix":
    Path(value("--out-link")).write_bytes(b"not gzip: a docker-archive stand-in")
'''


@pytest.fixture()
def stand_ins(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir, dumps = tmp_path / "bin", tmp_path / "dumps"
    bin_dir.mkdir()
    dumps.mkdir()
    script = STAND_IN.format(python=sys.executable, dumps=str(dumps), digest=DIGEST)
    for tool in ("docker", "skopeo", "nix"):
        (bin_dir / tool).write_text(script)
        (bin_dir / tool).chmod(0o755)
    return bin_dir, dumps


def run_build(bin_dir: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "ENGINE_HOST": "unix:///run/podman/podman.sock",
        "REGISTRY_USERNAME": "pusher",
        "REGISTRY_PASSWORD": REGISTRY_PASSWORD,
        **CANARIES,
    }
    return subprocess.run(
        [sys.executable, "-m", "tools.build_image", *args, "--base", BASE, "--repo", "registry.test/lab"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def everything_recorded(dumps: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in sorted(dumps.rglob("*")) if path.is_file())


def recorded_environments(dumps: Path) -> list[dict[str, str]]:
    return [json.loads(path.read_text()) for path in sorted(dumps.glob("*/env.json"))]


@pytest.mark.parametrize(
    "builder_args",
    [
        ["containerfile", "--name", "lab", "--context", str(REPO_ROOT / "images" / "creative-lab"),
         "--env-local", 'export PATH="$PATH:/opt/lab/bin"', "--link", "lab=/opt/lab/bin/lab"],
        ["nix", "--name", "lab", "--flake", str(NIX_FLAKE), "--attr", "packages.x86_64-linux.lab"],
    ],
    ids=["containerfile", "nix"],
)
def test_no_inherited_secret_reaches_the_tools_their_files_or_the_output(
    stand_ins: tuple[Path, Path], tmp_path: Path, builder_args: list[str]
) -> None:
    bin_dir, dumps = stand_ins
    completed = run_build(bin_dir, tmp_path, *builder_args)
    assert completed.returncode == 0, completed.stderr[-2000:]
    environments = recorded_environments(dumps)
    # The stand-ins really ran and recorded what the tool gave them.
    assert len(environments) >= 3
    assert all(env.get("PATH", "").startswith(str(bin_dir)) for env in environments)
    if builder_args[0] == "containerfile":
        assert any(env.get("DOCKER_HOST") == "unix:///run/podman/podman.sock" for env in environments)
    seen = completed.stdout + completed.stderr + everything_recorded(dumps)
    for name, canary in CANARIES.items():
        assert canary not in seen, f"{name} leaked"
        assert all(name not in env for env in environments), f"{name} passed on"
    # The registry password goes only into the private auth file, never into an environment.
    assert all(REGISTRY_PASSWORD not in json.dumps(env) for env in environments)
    assert REGISTRY_PASSWORD not in completed.stdout + completed.stderr


def test_a_failing_tool_shows_its_message_but_no_inherited_secret(stand_ins: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, dumps = stand_ins
    # A docker that fails the way a build does, echoing everything it was given.
    (bin_dir / "docker").write_text('#!/bin/sh\nenv\necho "Error: build failed" >&2\nexit 125\n')
    completed = run_build(
        bin_dir, tmp_path, "containerfile", "--name", "lab", "--context", str(REPO_ROOT / "images" / "creative-lab")
    )
    assert completed.returncode == 1
    assert "build_image:" in completed.stderr
    for canary in CANARIES.values():
        assert canary not in completed.stdout + completed.stderr
    # The stand-in's `env` output did reach the log: the allow-listed names are all it had.
    assert "ENGINE_HOST" not in completed.stderr and "DOCKER_BUILDKIT=0" in completed.stderr

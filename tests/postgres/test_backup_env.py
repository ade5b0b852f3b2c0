"""``tools.pg_backup`` passes pg_dump libpq's variables and nothing else of what it inherited.

pulumi-command runs the helper with the provider's whole environment, so the deploy's passphrase
and tokens are in it. Here the helper runs for real against the test cluster with canary values in
its environment; pg_dump is the real one behind a wrapper that records its environment. No canary
may reach the helper's output, pg_dump's environment or any file in the backup directory, on
success and on failure (when pulumi-command would print the combined output).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import Account, PgServer

REPO_ROOT = Path(__file__).resolve().parents[2]
CANARIES = {
    "PULUMI_CONFIG_PASSPHRASE": "canary-passphrase-2b7e",
    "OP_SERVICE_ACCOUNT_TOKEN": "canary-op-token-c41d",
    "GITHUB_TOKEN": "canary-github-token-88f0",
    "REGISTRY_PASSWORD": "canary-registry-password-19aa",
}


def recording_pg_dump(directory: Path, real: Path, record: Path) -> Path:
    wrapper = directory / "pg_dump"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
        f"os.execv({str(real)!r}, [{str(real)!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    return wrapper


def run_backup(pg_server: PgServer, account: Account, tmp_path: Path, password: str | None = None
               ) -> tuple[subprocess.CompletedProcess[str], dict[str, str], Path]:
    record, backups = tmp_path / "pg_dump-env.json", tmp_path / "backups"
    env = pg_server.libpq_env(account, password) | CANARIES
    env["PG_DUMP"] = str(recording_pg_dump(tmp_path, pg_server.bindir / "pg_dump", record))
    completed = subprocess.run(
        [sys.executable, "-m", "tools.pg_backup", "--dir", str(backups), "--keep", "2", "--label", "before-v2"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    return completed, json.loads(record.read_text()), backups


def assert_no_canary(completed: subprocess.CompletedProcess[str], child_env: dict[str, str], backups: Path) -> None:
    written = b"".join(path.read_bytes() for path in backups.rglob("*") if path.is_file())
    for name, canary in CANARIES.items():
        assert canary not in completed.stdout + completed.stderr, f"{name} in the output"
        assert name not in child_env and canary not in json.dumps(child_env), f"{name} reached pg_dump"
        assert canary.encode() not in written, f"{name} in a written file"


@pytest.mark.integration
def test_a_backup_gives_pg_dump_only_libpq_and_the_basics(
    pg_server: PgServer, coder_account: Account, tmp_path: Path
) -> None:
    completed, child_env, backups = run_backup(pg_server, coder_account, tmp_path)
    assert completed.returncode == 0, completed.stderr
    [dump] = list(backups.glob("coder-*.dump"))
    assert dump.read_bytes().startswith(b"PGDMP")
    # pg_dump got what it needs, the password included: that one is meant for it.
    assert child_env["PGHOST"] == pg_server.host and child_env["PGPASSWORD"] == coder_account.password
    assert "PG_DUMP" not in child_env
    assert_no_canary(completed, child_env, backups)


@pytest.mark.integration
def test_a_failed_backup_prints_pg_dumps_message_and_no_inherited_secret(
    pg_server: PgServer, coder_account: Account, tmp_path: Path
) -> None:
    completed, child_env, backups = run_backup(pg_server, coder_account, tmp_path, password="wrong-password")
    assert completed.returncode == 1
    assert "pg_dump failed" in completed.stderr and "password authentication failed" in completed.stderr
    assert "wrong-password" not in completed.stderr
    assert_no_canary(completed, child_env, backups)

"""What starts fast stays fast: the helpers load no SDK, the program's evaluation no HTTP client."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools.mock_engine import PROJECT_DIR

HEAVY = ("pulumi", "pydantic", "grpc", "httpx", "hcl2")


def imported_modules(*arguments: str) -> set[str]:
    """Every module a fresh interpreter imports to run ``python -X importtime <arguments>``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *arguments],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("tool", ["tools.build_image", "tools.pg_backup"])
def test_a_helper_starts_without_the_sdks(tool: str) -> None:
    modules = imported_modules("-m", tool, "--help")
    loaded = sorted(name for name in modules if name.split(".")[0] in HEAVY)
    assert loaded == [], f"{tool} --help imports {loaded[:5]}"


def test_evaluating_the_graph_does_not_import_an_http_client() -> None:
    modules = imported_modules(
        "-c", "from tools.plan_stubs import run_stack_offline; run_stack_offline('vermissian')"
    )
    # The dynamic providers were loaded (their resources were registered) ...
    providers = {"components.coder_admin", "components.coder_template", "components.database_adoption"}
    assert providers <= modules
    # ... but their clients come only when a provider runs: the Coder client, httpx, the SQL side.
    assert not modules & {"components.coder_api", "httpx", "components.pg_adopt", "psycopg"}

"""The project directory, for paths that must not depend on the current working directory."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The directory holding ``Pulumi.yaml``, ``components/`` and ``coder-templates/``."""


def project_path(path: str | Path) -> Path:
    """``path`` resolved against the project root when relative (absolute paths stay as given)."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate

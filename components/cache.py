"""Where the program keeps what it may recompute, and how it reads and writes it safely.

A cache here is only ever a shortcut: a missing, corrupt, unreadable or unwritable cache file means
"compute it again", never an error and never a different result. Files are JSON, written to a
temporary file and renamed into place, so a reader never sees half a file and two writers at once
leave one whole version.

Location: ``$EGOENGINE_CACHE_DIR`` if set, else ``.pulumi-state/cache/`` in the project (ignored by
git with the rest of ``.pulumi-state/``), one subdirectory per cache. Only the standard library:
the helpers import this without pulumi.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_DIR_VARIABLE = "EGOENGINE_CACHE_DIR"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The directory every egoengine cache lives under (not created here)."""
    explicit = os.environ.get(CACHE_DIR_VARIABLE)
    return Path(explicit) if explicit else _PROJECT_ROOT / ".pulumi-state" / "cache"


def read_json(path: Path) -> Any:
    """The JSON document at ``path``, or None when it is absent, unreadable or not JSON."""
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_json(path: Path, document: Any) -> None:
    """Write ``document`` to ``path`` atomically (mode 600, directories 700); failures are ignored."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle, separators=(",", ":"))
        os.replace(temporary, path)
    except (OSError, TypeError, ValueError):
        try:
            os.unlink(temporary)
        except OSError:
            pass

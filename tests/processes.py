"""Stopping what a test started, by the process it holds (never by name)."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen, *, grace_seconds: float = 15) -> None:
    """Terminate ``process`` if it still runs; kill it when it ignores that for ``grace_seconds``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)

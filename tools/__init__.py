"""Command-line helpers for operators (run as ``python -m tools.<name>``)."""

"""Tests of the Coder REST API client, the template archive, and the admin/template dynamic
providers, against a fake Coder server started by the tests (no real Coder needed)."""

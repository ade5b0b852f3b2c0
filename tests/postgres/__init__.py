"""Tests against a real, throwaway PostgreSQL 15 cluster started by ``conftest.py``."""

"""Tests for the Coder templates in ``coder-templates/``."""

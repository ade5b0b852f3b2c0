"""Tests of tools/devcontainer.py."""

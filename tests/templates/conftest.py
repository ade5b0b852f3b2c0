"""Fixtures of the template tests (the namespaced Podman is started only by the tests that use it)."""

from tests.templates.podman_workspace import namespaced_engine

__all__ = ["namespaced_engine"]

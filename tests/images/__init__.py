"""Child image tests: pure helpers, command lines, and real builds against Podman and a registry."""

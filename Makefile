# Operator entry points. `make dev` brings up the embedded dev stack; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STACK ?= dev
# A local file backend inside the project: never touches the user's global `pulumi login`.
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_SKIP_UPDATE_CHECK := true

SYSTEM_PACKAGES := podman runc skopeo buildah docker-registry busybox-static postgresql
# The second workspace host in the tests: a netns with sshd and the docker CLI (client only).
SYSTEM_PACKAGES += openssh-server docker.io iproute2
# Root in CI here; a GitHub-hosted runner or a workstation goes through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv test test-unit system-deps dev dev-down preview plan bench clean preflight

$(VENV)/.installed: requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-test.txt
	touch $@

venv: $(VENV)/.installed

## Run every test: mypy over components/, tools/ and policy/ (mypy.ini), unit tests on the mocked
## engine, and integration tests against real Podman, an OCI registry and PostgreSQL (their
## packages: `sudo make system-deps`).
test: venv
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

## Only the tests that need no system service.
test-unit: venv
	$(VENV)/bin/pytest -q -m "not integration"

## Debian packages the integration tests start (run as root).
system-deps:
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES)
# The template tests run Podman with bridge networks and DNS aliases in a network namespace.
SYSTEM_PACKAGES += iproute2 netavark aardvark-dns iptables

## Bring up the dev stack on this machine: checks every prerequisite first (the Pulumi CLI, pg_dump,
## a rootful Docker or Podman socket) and changes no tracked file.
dev: venv
	@$(VENV)/bin/python -m tools.dev up

## Destroy the dev stack, keeping the protected PostgreSQL data; `make dev-down ALL=1` deletes
## everything, data included, after a prompt.
dev-down: venv
	@$(VENV)/bin/python -m tools.dev down $(if $(ALL),--all)

## pulumi preview with the policy pack: dev on this machine's stack, vermissian on the production
## backend (deploy/backend.env).
preview: venv
	@$(VENV)/bin/python -m tools.dev preview $(STACK)

## The resource tree, dependencies and policy findings of a stack, without the Pulumi CLI.
plan: venv
	$(VENV)/bin/python -m tools.plan $(STACK)

## The benchmark: table, bench/results.json and bench/curves.png; QUICK=1 for a subset (< 30 s).
bench: venv
	$(VENV)/bin/python -m tools.bench $(if $(QUICK),--quick)

## Read-only look at a live host before the first up (the admin password in PGPASSWORD).
preflight: venv
	$(VENV)/bin/python -m tools.preflight $(STACK)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache

#!/usr/bin/env bash
# Bring up the `dev` stack: local file backend, passphrase secrets, the engine socket detected.
# Called by `make dev`; PULUMI_BACKEND_URL comes from the Makefile (a directory in the project).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pulumi >/dev/null 2>&1; then
  echo "The Pulumi CLI is not installed. Install it (see Pulumi's installation guide for your OS)," >&2
  echo "then run 'make dev' again. Nothing was changed." >&2
  exit 1
fi

# The pre-upgrade backup runs pg_dump on this machine (PostgreSQL 15 in the dev stack).
if ! command -v pg_dump >/dev/null 2>&1; then
  echo "pg_dump is not installed; the database backup needs it. Install it, for example:" >&2
  echo "  sudo apt-get install postgresql-client-15   (or set egoengine:backup.pgDump)" >&2
  echo "Nothing was changed." >&2
  exit 1
fi

detect_engine() {
  if [[ -n "${DOCKER_HOST:-}" ]]; then echo "$DOCKER_HOST"; return; fi
  local candidates=(/var/run/docker.sock /run/podman/podman.sock)
  [[ -n "${XDG_RUNTIME_DIR:-}" ]] && candidates+=("$XDG_RUNTIME_DIR/podman/podman.sock" "$XDG_RUNTIME_DIR/docker.sock")
  for socket in "${candidates[@]}"; do
    if [[ -S "$socket" ]]; then echo "unix://$socket"; return; fi
  done
}
engine="$(detect_engine || true)"
if [[ -z "$engine" ]]; then
  echo "No Docker or Podman socket found. Install and start one, for example:" >&2
  echo "  sudo apt-get install podman && sudo systemctl enable --now podman.socket" >&2
  echo "or set DOCKER_HOST=unix:///path/to/engine.sock. Nothing was changed." >&2
  exit 1
fi

mkdir -p .pulumi-state
# The dev stack's secrets are encrypted with a passphrase kept next to its state (created once).
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
  passphrase_file=.pulumi-state/dev-passphrase
  [[ -f "$passphrase_file" ]] || (umask 077 && head -c 32 /dev/urandom | base64 > "$passphrase_file")
  export PULUMI_CONFIG_PASSPHRASE_FILE="$PWD/$passphrase_file"
fi

echo "Using the local backend $PULUMI_BACKEND_URL and the engine at $engine"
pulumi stack select dev 2>/dev/null || pulumi stack init dev --secrets-provider passphrase
current="$(pulumi config get --path egoengine:engine.host -s dev 2>/dev/null || true)"
if [[ "$current" != "$engine" ]]; then
  pulumi config set --path egoengine:engine.host "$engine" -s dev
fi
pulumi up -s dev --policy-pack policy --yes

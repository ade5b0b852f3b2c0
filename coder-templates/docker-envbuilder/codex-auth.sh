#!/usr/bin/env sh
# Codex auth: copy the Codex CLI credentials from 1Password into ~/.codex/auth.json (mode 600).
#
# Runs at workspace start (coder_script). It must never break the start and never print the
# credential, so: no `set -x`, no echo of the content, every failure path exits 0, and the file
# is written to a private temp file first and renamed into place only when the read succeeded.
# Identical copies live in each template directory (each directory is uploaded to Coder alone);
# the template tests assert they stay identical.
set -u
umask 077

secret_ref='op://egoengine/Codex Auth/auth.json'
log() { printf 'codex-auth: %s\n' "$*"; }

if [ -z "${OP_SERVICE_ACCOUNT_TOKEN:-}" ]; then
  log "OP_SERVICE_ACCOUNT_TOKEN is not set; skipping."
  exit 0
fi

# Agent scripts may start with a shorter PATH than a login shell; look in the usual Nix
# profile locations too (appended, so an `op` already on PATH wins).
PATH="${PATH:-/usr/bin:/bin}:${HOME}/.nix-profile/bin:/etc/profiles/per-user/${USER:-}/bin:/nix/var/nix/profiles/default/bin:/run/current-system/sw/bin"
export PATH

if ! command -v op >/dev/null 2>&1; then
  log "the 1Password CLI (op) is not installed; skipping."
  exit 0
fi

codex_dir="${HOME}/.codex"
target="${codex_dir}/auth.json"

if ! mkdir -p "$codex_dir"; then
  log "cannot create ${codex_dir}; skipping."
  exit 0
fi

tmp=$(mktemp "${codex_dir}/.auth.json.XXXXXX") || {
  log "cannot create a temporary file in ${codex_dir}; skipping."
  exit 0
}
# Whatever happens from here on, never leave a partial credential behind.
trap 'rm -f "$tmp"' EXIT
trap 'rm -f "$tmp"; exit 0' HUP INT TERM

# Bound the read so a hung network call cannot stall the start (when `timeout` exists).
if command -v timeout >/dev/null 2>&1; then
  timeout 60 op read "$secret_ref" >"$tmp" </dev/null
else
  op read "$secret_ref" >"$tmp" </dev/null
fi
status=$?

if [ "$status" -ne 0 ] || [ ! -s "$tmp" ]; then
  log "could not read the Codex credentials from 1Password (exit ${status}); ~/.codex/auth.json left unchanged."
  exit 0
fi

if chmod 600 "$tmp" && mv -f "$tmp" "$target" && chmod 600 "$target"; then
  log "wrote ~/.codex/auth.json."
else
  log "could not install ~/.codex/auth.json."
fi
exit 0

#!/usr/bin/env sh
# Secret cleanup: at workspace stop, delete the files `ee sync` mirrored from 1Password into the
# persistent home, so they do not rest in the volume while the workspace is off.
#
# Opt-in through the workspace environment:
#   WORKSPACE_SECRET_MANIFEST (or EE_SYNC_MANIFEST_PATH): newline-separated paths, relative to
#     $HOME unless absolute; blank lines and lines starting with '#' are ignored.
#   WORKSPACE_SECRET_CLEAN_CMD: optional extra command run with `sh -c` afterwards.
# Only paths strictly inside $HOME are removed; entries with a '..' component, $HOME itself and
# paths outside $HOME are skipped. Never fails the stop (exit 0).
# Identical copies live in each template directory; the template tests assert they stay identical.
set -u

home="${HOME%/}"
manifest="${WORKSPACE_SECRET_MANIFEST:-${EE_SYNC_MANIFEST_PATH:-}}"
clean_cmd="${WORKSPACE_SECRET_CLEAN_CMD:-}"
log() { printf 'secret-cleanup: %s\n' "$*"; }

if [ -z "$home" ] || [ "$home" = "/" ]; then
  log "HOME is not set to a user directory; skipping."
  exit 0
fi

if [ -n "$manifest" ] && [ -f "$manifest" ]; then
  while IFS= read -r entry || [ -n "$entry" ]; do
    case "$entry" in
      '' | '#'*) continue ;;
    esac
    case "$entry" in
      /*) target="$entry" ;;
      *) target="$home/$entry" ;;
    esac
    case "/$target/" in
      */../* | */./*)
        log "skipping a manifest entry with a '.' or '..' component."
        continue
        ;;
    esac
    target="${target%/}"
    case "$target" in
      "$home"/?*) ;;
      *)
        log "skipping a manifest entry outside \$HOME."
        continue
        ;;
    esac
    if [ -e "$target" ] || [ -L "$target" ]; then
      rm -rf -- "$target" || log "could not remove an entry."
    fi
  done <"$manifest"
  rm -f -- "$manifest"
fi

if [ -n "$clean_cmd" ]; then
  sh -c "$clean_cmd" || log "WORKSPACE_SECRET_CLEAN_CMD failed."
fi
exit 0

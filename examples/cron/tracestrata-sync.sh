#!/bin/sh
# Cron wrapper for `tracestrata sync`: runnable as written, under cron's bare environment.
#
#   TRACESTRATA_CONFIG  the sync config (default /etc/tracestrata/sync.toml)
#   TRACESTRATA_ENV     a file of `NAME=value` lines with credentials, loaded if it
#                       exists (default /etc/tracestrata/env; keep it chmod 600)
#   TRACESTRATA         the command; default: the `.venv` that `make install` made in
#                       the repository this script sits in (examples/cron/ -> ../../.venv),
#                       else `tracestrata` on PATH
# Extra arguments go to `tracestrata sync` (e.g. -v, --log-format json).
#
# Silent when nothing changed, so cron mails only when a window was sampled or
# something went wrong. Exit codes: those of `tracestrata sync` (docs/sync.md), and
# 127 when no tracestrata command is found.
set -eu

config="${TRACESTRATA_CONFIG:-/etc/tracestrata/sync.toml}"
envfile="${TRACESTRATA_ENV:-/etc/tracestrata/env}"

# cron starts with an almost empty environment
PATH="${PATH:-/usr/bin:/bin}:/usr/local/bin${HOME:+:$HOME/.local/bin}"
export PATH

script=$(readlink -f "$0" 2>/dev/null || printf '%s' "$0")
repo=$(cd "$(dirname "$script")/../.." && pwd)
command="${TRACESTRATA:-}"
if [ -z "$command" ]; then
    if [ -x "$repo/.venv/bin/tracestrata" ]; then
        command="$repo/.venv/bin/tracestrata"
    elif command -v tracestrata >/dev/null 2>&1; then
        command=tracestrata
    else
        echo "tracestrata-sync.sh: tracestrata not found (no $repo/.venv/bin/tracestrata, none on PATH=$PATH); run \`make install\` in the repository or set TRACESTRATA=/path/to/bin/tracestrata in the crontab" >&2
        exit 127
    fi
fi

if [ -r "$envfile" ]; then
    set -a
    . "$envfile"
    set +a
fi

exec "$command" sync --config "$config" "$@"

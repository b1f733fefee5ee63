#!/bin/sh
# Cron wrapper for `tracestrata sync`: runnable as written.
#
#   TRACESTRATA_CONFIG  the sync config (default /etc/tracestrata/sync.toml)
#   TRACESTRATA_ENV     a file of `NAME=value` lines with credentials, loaded if it
#                       exists (default /etc/tracestrata/env; keep it chmod 600)
#   TRACESTRATA         the command (default: `tracestrata` on PATH)
# Extra arguments go to `tracestrata sync` (e.g. -v, --log-format json).
#
# Silent when nothing changed, so cron mails only when a window was sampled or
# something went wrong. Exit codes: 0 ok, 2 config, 3 backend refused,
# 4 partial (the next run continues), 5 the previous run is still going.
set -eu

config="${TRACESTRATA_CONFIG:-/etc/tracestrata/sync.toml}"
envfile="${TRACESTRATA_ENV:-/etc/tracestrata/env}"
command="${TRACESTRATA:-tracestrata}"

# cron starts with an almost empty environment
PATH="${PATH:-/usr/bin:/bin}:/usr/local/bin:$HOME/.local/bin"
export PATH

if [ -r "$envfile" ]; then
    set -a
    . "$envfile"
    set +a
fi

exec "$command" sync --config "$config" "$@"

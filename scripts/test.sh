#!/usr/bin/env bash
# The test command (`make test`), also what CI runs. Installs what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if ! command -v Rscript >/dev/null 2>&1 || ! Rscript -e 'library(survey)' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing R and the survey package (apt, --no-install-recommends)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends r-base-core r-cran-survey >/dev/null
  else
    echo "warning: Rscript with the survey package is missing; the R cross-check will be skipped" >&2
  fi
fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium for the Phoenix UI screenshots (apt, --no-install-recommends, ~25 s)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "warning: chromium is missing; the Phoenix UI checks will be skipped" >&2
  fi
fi
# Airflow in a venv of its own (it pins fastapi below what arize-phoenix needs): the DAG example's test.
AIRFLOW_VENV=${AIRFLOW_VENV:-.venv-airflow}
case "$AIRFLOW_VENV" in /*) ;; *) AIRFLOW_VENV="$PWD/$AIRFLOW_VENV" ;; esac
if [ ! -x "$AIRFLOW_VENV/bin/airflow" ]; then
  echo "installing Apache Airflow into $AIRFLOW_VENV for the DAG example's test (~1.5 min)"
  if ! { "${PY:-python3}" -m venv "$AIRFLOW_VENV" && "$AIRFLOW_VENV/bin/pip" install --quiet -e '.[airflow]'; }; then
    echo "warning: Airflow did not install; the DAG example's test will be skipped" >&2
  fi
fi
export TRACESTRATA_AIRFLOW_VENV="$AIRFLOW_VENV"
# One worker per core (TEST_WORKERS=0 for one process); a file's tests stay on one worker,
# so module fixtures (a Phoenix server, a Spark session) start once per worker.
exec "$VENV/bin/python" -m pytest -n "${TEST_WORKERS:-auto}" --dist loadfile --durations=15 "$@"

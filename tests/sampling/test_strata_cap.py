"""A high-cardinality dimension stops with one line (exit 2) before memory grows: `max_strata`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tracestrata.cli.main import main
from tracestrata.errors import ConfigError
from tracestrata.sampling.counting import count_strata
from tracestrata.policy.model import DEFAULT_MAX_STRATA
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)
RECORDS = list(generate_traces(4000, start=T0, end=T0 + timedelta(hours=1), seed=9))


def policy(**over: object):  # type: ignore[no-untyped-def]
    return parse_policy({"seed": "cap", "strata": [{"field": "span_id"}], **over}, source="p.toml")


def test_span_id_is_refused_naming_the_field_the_count_and_top() -> None:
    with pytest.raises(ConfigError) as err:
        sample_records(RECORDS, policy(max_strata=100))
    text = str(err.value)
    assert "'span_id'" in text and "max_strata = 100" in text and "top = 20" in text and "distinct values" in text
    assert err.value.exit_code == 2
    with pytest.raises(ConfigError, match="span_id"):
        count_strata([r.to_json() for r in RECORDS], policy(max_strata=100))


def test_top_bounds_raw_values_too_and_a_crossing_is_capped() -> None:
    folded = parse_policy({"seed": "c", "strata": [{"field": "span_id", "top": 5}], "max_strata": 100}, source="p")
    with pytest.raises(ConfigError, match="coarser field"):
        sample_records(RECORDS, folded)
    crossed = parse_policy(
        {"seed": "c", "strata": [{"field": "user_id"}, {"field": "session_id"}], "max_strata": 300}, source="p"
    )
    with pytest.raises(ConfigError, match="user_id|session_id"):
        sample_records(RECORDS, crossed)


def test_under_the_cap_nothing_changes_and_the_default_keeps_the_digest() -> None:
    assert policy().max_strata == DEFAULT_MAX_STRATA and "max_strata" not in policy().to_json()
    assert policy(max_strata=5000).to_json()["max_strata"] == 5000
    result = sample_records(RECORDS, policy(max_strata=5000))
    assert result.population == 4000
    with pytest.raises(ConfigError, match="max_strata"):
        policy(max_strata=0)


def test_cli_sample_and_plan_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traces = tmp_path / "t.jsonl"
    traces.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in RECORDS))
    pol = tmp_path / "p.toml"
    pol.write_text('seed = "x"\nmax_strata = 50\n[[strata]]\nfield = "span_id"\n')
    for args in (
        ["sample", "--source", f"jsonl:{traces}", "--policy", str(pol), "--out", str(tmp_path / "o")],
        ["plan", "--source", f"jsonl:{traces}", "--policy", str(pol)],
    ):
        assert main(args) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "span_id" in lines[0] and "top = 20" in lines[0]


CHILD = """
import resource, sys
from tracestrata.cli.main import main
import duckdb, numpy, pyarrow  # loaded before the limit: the limit is headroom for the work
size = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[1]) * 2**20,) * 2)
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process size from /proc")
def test_max_strata_past_what_memory_holds_is_one_line_not_an_internal_error(tmp_path: Path) -> None:
    """Issue 22: `max_strata = 1000000` on Parquet under a memory limit ran out of memory (exit 1,
    MemoryError) before the check could stop it. Under RLIMIT_AS the run ends with one line naming
    the field and the `top` fix, exit 2."""
    import os
    import subprocess
    import sys

    import duckdb

    data = tmp_path / "t.parquet"
    duckdb.sql(
        "COPY (SELECT 't' || i AS id, TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (i) MILLISECOND AS timestamp, "
        f"'u' || i AS user_id FROM range(400000) t(i)) TO '{data}' (FORMAT parquet)"
    )
    (tmp_path / "p.toml").write_text('seed = "s"\nmax_strata = 1000000\n[targets]\ndefault = 2\n[[strata]]\nfield = "user_id"\n')
    headroom = 350 + 10 * (os.cpu_count() or 2)  # MB past the loaded libraries; DuckDB's threads take some
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(headroom), "sample", "--source", f"parquet:{data}", "--policy", str(tmp_path / "p.toml"),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "MALLOC_ARENA_MAX": "2"},
    )
    err = [line for line in done.stderr.splitlines() if line.startswith("tracestrata:")]
    assert done.returncode == 2 and len(err) == 1, done.stderr[-2000:]
    # while the strata grow (the usual case): the field and the fix; elsewhere, the general line
    assert ("ran out of memory" in err[0] and "'user_id'" in err[0] and "top = 20" in err[0]) or (
        "out of memory" in err[0] and "top = N" in err[0]), err
    assert not (tmp_path / "out" / "sample.jsonl").exists()

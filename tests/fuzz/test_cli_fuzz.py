"""Hostile input through the CLI: exit 0, or exit 2 with one line -- never exit 1, never a hang.

Hypothesis drives trace lines, policies, sync configs, score lines, manifests and state files through
`tracestrata.cli.main.main` in-process (bounded: a fixed number of examples, no deadline
per example but a small input each); one subprocess checks memory stays bounded under an
address-space limit on a high-cardinality policy.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from builders import policy_data, sync_config_toml

from tracestrata.cli.main import main

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
GOOD = {"id": "t0", "timestamp": "2026-12-01T00:00:00Z", "status": "ok", "metadata": {"intent": "a"}}
POLICY = 'seed = "s"\n[targets]\ndefault = 3\n[[strata]]\nfield = "metadata.intent"\n[failure]\nmultiplier = 2\n[[failure.signals]]\nname = "e"\nfield = "status"\nequals = "error"\n'
FIELDS = ["id", "timestamp", "name", "status", "latency_ms", "cost", "tags", "metadata", "scores", "user_id",
          "session_id", "release", "version", "span_id", "source"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=12),
    st.sampled_from(["ok", "error", "ERROR", "", "yesterday", "2026-12-01T00:00:00Z", "1e20", "abc", "prod"]),
    st.sampled_from([1e20, -1e20, 1e308, 2**63]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                      st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=8)
records = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6).map(lambda d: {**GOOD, **d})
raw_lines = st.one_of(
    records.map(lambda d: orjson.dumps(d, option=orjson.OPT_NON_STR_KEYS).decode() if _dumpable(d) else "{}"),
    st.text(max_size=30),
    st.just('{"id":"x","timestamp":"2026-12-01T00:00:00Z","metadata":{"a":' + "[" * 3000 + "]" * 3000 + "}}"),
    st.just('{"id":"x","timestamp":"2026-12-01T00:00:00Z","latency_ms":1e400}'),
)


def _dumpable(data: Any) -> bool:
    try:
        orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return True


def fresh(root: Path) -> Path:
    """A new folder per example (hypothesis reuses the test's tmp_path)."""
    return Path(tempfile.mkdtemp(dir=root))


def run(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, err.getvalue()


def assert_clean(code: int, err: str) -> None:
    assert code in (0, 2), f"exit {code}: {err}"
    assert "internal error" not in err and "Traceback" not in err, err
    if code == 2:
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1, err


def good_lines(n: int = 30) -> list[str]:
    return [json.dumps({**GOOD, "id": f"t{i}", "status": "error" if i % 7 == 0 else "ok"}) for i in range(n)]


@SETTINGS
@given(bad=st.lists(raw_lines, min_size=1, max_size=4), skip=st.booleans())
def test_trace_lines(tmp_path: Path, bad: list[str], skip: bool) -> None:
    tmp_path = fresh(tmp_path)
    traces, policy = tmp_path / "t.jsonl", tmp_path / "p.toml"
    traces.write_text("\n".join([*good_lines(), *bad]) + "\n")
    policy.write_text(POLICY)
    extra = ["--skip-bad"] if skip else []
    assert_clean(*run(["sample", "--source", f"jsonl:{traces}", "--policy", str(policy), "--out", str(tmp_path / "o"), *extra]))
    assert_clean(*run(["plan", "--source", f"jsonl:{traces}", "--policy", str(policy), *extra]))


toml_values = st.one_of(
    st.integers(min_value=-5, max_value=10**12).map(str), st.sampled_from(['"x"', "true", "[]", "[1, 2]", '"status"',
    '"span_id"', '"metadata.intent"', "1e400", "nan", "{}", '["a"]', "0", '"*"']),
)
policy_keys = st.sampled_from([
    "seed", "description", "max_strata", "strata.field", "strata.top", "strata.edges", "strata.values",
    "targets.default", "targets.floor", "failure.multiplier", "boost.name", "boost.field", "boost.collect",
    "boost.equals", "failure.signals.name", "failure.signals.field", "failure.signals.equals", "bogus",
])


@SETTINGS
@given(pairs=st.lists(st.tuples(policy_keys, toml_values), max_size=5))
def test_policies(tmp_path: Path, pairs: list[tuple[str, str]]) -> None:
    tmp_path = fresh(tmp_path)
    top, tables = [], {"strata": [], "targets": [], "failure": [], "boost": [], "failure.signals": []}
    for key, value in pairs:
        head, _, rest = key.rpartition(".")
        (tables[head] if head else top).append(f"{rest} = {value}")
    text = "\n".join(top) + "\n"
    for head, lines in tables.items():
        if lines:
            array = head in ("strata", "boost", "failure.signals")
            text += (f"[[{head}]]\n" if array else f"[{head}]\n") + "\n".join(lines) + "\n"
    traces, policy = tmp_path / "t.jsonl", tmp_path / "p.toml"
    traces.write_text("\n".join(good_lines()) + "\n")
    policy.write_text(text)
    assert_clean(*run(["sample", "--source", f"jsonl:{traces}", "--policy", str(policy), "--out", str(tmp_path / "o")]))
    assert_clean(*run(["plan", "--source", f"jsonl:{traces}", "--policy", str(policy)]))


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    (root / "t.jsonl").write_text("\n".join(good_lines(60)) + "\n")
    (root / "p.toml").write_text(POLICY)
    code, err = run(["sample", "--source", f"jsonl:{root / 't.jsonl'}", "--policy", str(root / "p.toml"), "--out", str(root / "s")])
    assert code == 0, err
    return root / "s"


score_lines = st.one_of(
    st.fixed_dictionaries({"trace_id": st.sampled_from(["t0", "t7", "t14", "zz"]), "name": st.just("correct"),
                           "value": values}).map(lambda d: orjson.dumps(d).decode() if _dumpable(d) else "{}"),
    st.text(max_size=20),
)


@SETTINGS
@given(lines=st.lists(score_lines, max_size=5))
def test_score_lines(tmp_path: Path, sample_dir: Path, lines: list[str]) -> None:
    tmp_path = fresh(tmp_path)
    scores = tmp_path / "scores.jsonl"
    scores.write_text("\n".join(lines) + "\n")
    assert_clean(*run(["report", "--sample", str(sample_dir), "--scores", f"jsonl:{scores}", "--metric", "correct"]))


@SETTINGS
@given(path=st.lists(st.sampled_from(["cells", 0, "population", "sampled", "values", "kind", "counts", "window",
                                      "format", "cell"]), min_size=1, max_size=3), value=values)
def test_manifests(tmp_path: Path, sample_dir: Path, path: list[Any], value: Any) -> None:
    tmp_path = fresh(tmp_path)
    target = tmp_path / "s"
    target.mkdir()
    (target / "sample.jsonl").write_bytes((sample_dir / "sample.jsonl").read_bytes())
    manifest = orjson.loads((sample_dir / "manifest.json").read_bytes())
    node: Any = manifest
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    with contextlib.suppress(TypeError, IndexError):
        node[path[-1]] = value
    if not _dumpable(manifest):
        return
    (target / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_NON_STR_KEYS))
    scores = tmp_path / "scores.jsonl"
    scores.write_text('{"trace_id": "t0", "name": "correct", "value": true}\n')
    assert_clean(*run(["report", "--sample", str(target), "--scores", f"jsonl:{scores}", "--metric", "correct"]))


@SETTINGS
@given(garbage=st.binary(max_size=200), keep=st.integers(min_value=0, max_value=4096))
def test_state_files(tmp_path: Path, garbage: bytes, keep: int) -> None:
    tmp_path = fresh(tmp_path)
    from tracestrata.job.state import State

    good = tmp_path / "good.sqlite"
    with State(good):
        pass
    state = tmp_path / "state.sqlite"
    body = good.read_bytes()
    state.write_bytes(body[:keep] + garbage + body[keep + len(garbage):])
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "t.jsonl").write_text("\n".join(good_lines()) + "\n")
    (tmp_path / "p.toml").write_text(POLICY)
    (tmp_path / "sync.toml").write_text(
        f'state = "{state}"\npolicy = "p.toml"\n[source]\ntype = "files"\npath = "traces"\nsink_dir = "sink"\n'
        '[window]\nevery = "1h"\nsettle = "0m"\nstart = "2026-12-01T00:00:00Z"\n[sink]\ndataset = "d-{date}"\n'
    )
    assert_clean(*run(["sync", "--config", str(tmp_path / "sync.toml"), "--now", "2026-12-01T02:00:00Z"]))


SYNC_KEYS = [
    ("", "state"), ("", "policy"), ("source", "type"), ("source", "path"), ("source", "sink_dir"),
    ("source", "retry_attempts"), ("source", "api_key"), ("window", "every"), ("window", "settle"),
    ("window", "start"), ("window", "max_windows_per_run"), ("window", "late_check"), ("sink", "dataset"),
    ("sink", "queue"), ("sink", "batch_size"), ("scores", "names"), ("scores", "metric"), ("scores", "proxy"),
    ("report", "dir"), ("report", "period"), ("report", "formats"), ("report", "confidence"),
    ("retry", "attempts"), ("retry", "total_seconds"), ("retry", "initial"), ("retry", "max_wait"), ("retry", "x"),
]
sync_values = st.one_of(
    scalars, st.lists(st.one_of(st.text(max_size=6), st.integers(-3, 3)), max_size=3),
    st.sampled_from(["99999999999999w", "0h", "-1h", "1h", "15m", "7d", "judge-{date:>99999999999}", "{nope}",
                     "os:sep", "files", "/dev/null/x", "2026-12-01T00:00:00Z", "1e20", "json", ["json", "md"]]),
)


def _toml_scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        parts = [_toml_scalar(v) for v in value]
        return None if None in parts else "[" + ", ".join(parts) + "]"  # type: ignore[arg-type]
    return None


@settings(SETTINGS, max_examples=int(os.environ.get("FUZZ_N", "60")), derandomize="FUZZ_RANDOM" not in os.environ)
@given(edits=st.lists(st.tuples(st.sampled_from(SYNC_KEYS), sync_values), min_size=1, max_size=3))
@example(edits=[(("source", "sink_dir"), 1)])  # each found by this test (FUZZ_RANDOM=1 FUZZ_N=800), fixed since
@example(edits=[(("report", "period"), "99999999999999w")])
@example(edits=[(("sink", "dataset"), "judge-{date:>99999999999}")])
@example(edits=[(("", "state"), "/dev/null/0")])
@example(edits=[(("source", "type"), ":")])
@example(edits=[(("source", "type"), "os:sep")])
def test_sync_configs(tmp_path: Path, edits: list[tuple[tuple[str, str], Any]]) -> None:
    tmp_path = fresh(tmp_path)
    (tmp_path / "traces.jsonl").write_text("\n".join(good_lines()) + "\n")
    (tmp_path / "p.toml").write_text(POLICY)
    tables: dict[str, dict[str, Any]] = {
        "": {"state": "state.sqlite", "policy": "p.toml"},
        "source": {"type": "files", "path": "traces.jsonl", "sink_dir": "sink"},
        "window": {"every": "1h", "settle": "0m", "start": "2026-12-01T00:00:00Z"},
        "sink": {"dataset": "d-{date}"}, "scores": {}, "report": {"formats": ["json"]}, "retry": {},
    }
    for (table, key), value in edits:
        tables[table][key] = value
    text = ""
    for table, body in tables.items():
        text += f"[{table}]\n" if table else ""
        for key, value in body.items():
            scalar = _toml_scalar(value)
            if scalar is not None:
                text += f"{key} = {scalar}\n"
    (tmp_path / "sync.toml").write_text(text)
    assert_clean(*run(["sync", "--config", str(tmp_path / "sync.toml"), "--now", "2026-12-01T02:00:00Z"]))
    assert_clean(*run(["plan", "--config", str(tmp_path / "sync.toml"), "--window",
                       "2026-12-01T00:00:00Z/2026-12-01T01:00:00Z"]))


def test_high_cardinality_stays_within_an_address_space_limit(tmp_path: Path) -> None:
    traces, policy = tmp_path / "t.jsonl", tmp_path / "p.toml"
    traces.write_text("\n".join(json.dumps({**GOOD, "id": f"t{i}", "span_id": f"s{i}"}) for i in range(30_000)) + "\n")
    policy.write_text('seed = "s"\n[[strata]]\nfield = "span_id"\n')
    limit = 3 << 30

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", "sample", "--source", f"jsonl:{traces}", "--policy",
         str(policy), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120, preexec_fn=cap, check=False,
    )
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "span_id" in done.stderr and "top" in done.stderr


@pytest.mark.parametrize("factory", ["os:getcwd", "json:dumps"])
def test_a_callable_that_is_not_a_connector_factory_is_exit_2(tmp_path: Path, factory: str) -> None:
    config = tmp_path / "sync.toml"
    config.write_text(sync_config_toml({"type": factory}, policy_data(), state=str(tmp_path / "s.sqlite")))
    result = subprocess.run(
        [sys.executable, "-m", "tracestrata.cli.main", "sync", "--config", str(config), "--now", "2026-11-23T03:00:00Z"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "not a connector" in result.stderr

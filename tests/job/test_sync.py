from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracestrata.connectors.files.scores import FilesScoreSource
from tracestrata.connectors.files.sinks import FilesSampleSink, read_items, sink_file
from tracestrata.errors import ConfigError, ExitCode, RetriableSourceError
from tracestrata.job.config import SyncConfig, parse_config
from tracestrata.job.ledger import design_from_ledger
from tracestrata.job.logs import NullLog
from tracestrata.job.state import State
from tracestrata.job.sync import load_connector, render_name, run_sync
from tracestrata.protocols import SampleItem, SinkKind, Window, WriteResult
from tracestrata.record import Score, TraceRecord
from tracestrata.synthetic import generate_traces, judge

T0 = datetime(2026, 11, 23, tzinfo=UTC)
H = timedelta(hours=1)
RECORDS = list(generate_traces(1200, start=T0, end=T0 + 6 * H, seed=3))

POLICY: dict[str, Any] = {
    "seed": "unit",
    "strata": [{"field": "metadata.intent"}],
    "targets": {"default": 6},
    "failure": {"multiplier": 4, "signals": [{"name": "error", "field": "status", "equals": "error"}]},
    "boost": [{"name": "refund", "field": "metadata.intent", "equals": "refund", "collect": 12}],
}


class ListSource:
    def __init__(self, records: Sequence[TraceRecord], failures: list[BaseException] | None = None) -> None:
        self.records = records
        self.failures = failures if failures is not None else []
        self.pulls = 0

    def iter_traces(self, window: Window, *, metadata_keys: Sequence[str] = ()) -> Iterator[TraceRecord]:
        self.pulls += 1
        if self.failures:
            raise self.failures.pop(0)
        return (r for r in self.records if window.contains(r.timestamp))


class Sink(FilesSampleSink):
    """The real files sink, with optional injected failures (by write number)."""

    def __init__(self, root: Path, kind: SinkKind, name: str, conn: MemConnector) -> None:
        super().__init__(root, kind, name)
        self.conn = conn

    def write(self, items: Sequence[SampleItem]) -> WriteResult:
        self.conn.writes += 1
        fail = self.conn.fail_writes.get(self.conn.writes)
        if fail is not None:
            raise fail
        return super().write(items)


class MemConnector:
    name = "mem"

    def __init__(self, root: Path, records: Sequence[TraceRecord] = RECORDS) -> None:
        self.root = root
        self.source = ListSource(records)
        self.writes = 0
        self.fail_writes: dict[int, BaseException] = {}

    def trace_source(self) -> ListSource:
        return self.source

    def sample_sink(self, kind: SinkKind, name: str) -> Sink:
        return Sink(self.root / "sink", kind, name, self)

    def score_source(self) -> FilesScoreSource:
        return FilesScoreSource(self.root / "scores.jsonl")

    def close(self) -> None:
        return None


def make_config(root: Path, **over: Any) -> SyncConfig:
    data: dict[str, Any] = {
        "state": "state.sqlite",
        "source": {"type": "mem"},
        "policy": over.pop("policy", POLICY),
        "window": {"every": "1h", "settle": "10m", "start": "2026-11-23T00:00:00Z", "max_windows_per_run": over.pop("cap", 24)},
        "sink": {"dataset": "judge-{date}", "queue": "review-{window_start}", "batch_size": 5},
        "scores": {"names": ["correct"], "metric": "correct"},
        "report": {"dir": "reports", "period": "1d", "formats": ["json"]},
        "retry": {"attempts": 3, "total_seconds": 10, "initial": 0.01},
    }
    data.update(over)
    return parse_config(data, path=root / "sync.toml")


NOW = T0 + 6 * H + timedelta(minutes=30)


def sink_lines(root: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "sink").rglob("*.jsonl")):
        raw = [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]
        ids = [x["item_id"] for x in raw]
        assert len(ids) == len(set(ids)), f"duplicate items in {path}"
        out.update({x["item_id"]: x for x in raw})
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in (root / "sink").rglob("*.jsonl")}


def test_first_run_samples_every_closed_window_then_second_run_writes_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    conn = MemConnector(tmp_path)
    log = NullLog()
    outcome = run_sync(config, now=NOW, log=log, connector=conn)
    assert [w.window.start for w in outcome.windows] == [T0 + i * H for i in range(6)]
    assert outcome.exit_code == ExitCode.OK and outcome.pending == 0
    lines = sink_lines(tmp_path)
    selected = sum(w.selected for w in outcome.windows)
    assert len(lines) == 2 * selected  # dataset + queue
    assert sum(1 for x in log.lines if x["event"] == "window") == 6
    before = snapshot(tmp_path)
    writes = conn.writes
    log = NullLog()
    again = run_sync(config, now=NOW, log=log, connector=conn)
    assert not again.changed and again.windows == []
    assert [x for x in log.lines if x["level"] != "debug"] == []  # quiet
    assert conn.writes == writes and snapshot(tmp_path) == before
    with State(config.state) as state:
        assert state.item_counts() == {"written": 2 * selected}


def test_items_carry_weights_and_deterministic_ids(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    run_sync(config, now=NOW, connector=MemConnector(tmp_path))
    dataset = read_items(sink_file(tmp_path / "sink", SinkKind.DATASET, "judge-2026-11-23"))
    some = next(iter(dataset.values()))
    meta = some["metadata"]
    assert meta["tracestrata"] is True and 0 < meta["inclusion_probability"] <= 1
    assert meta["weight"] == pytest.approx(1 / meta["inclusion_probability"])
    assert meta["window"].startswith("2026-11-23T")
    assert some["record"]["id"] == some["trace_id"]


def test_cap_per_run_catches_up_in_order(tmp_path: Path) -> None:
    config = make_config(tmp_path, cap=4)
    conn = MemConnector(tmp_path)
    first = run_sync(config, now=NOW, connector=conn)
    assert len(first.windows) == 4 and first.pending == 2
    second = run_sync(config, now=NOW, connector=conn)
    assert [w.window.start for w in second.windows] == [T0 + 4 * H, T0 + 5 * H] and second.pending == 0


def test_crash_mid_write_is_resumed_with_every_item_once(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    conn = MemConnector(tmp_path)
    conn.fail_writes = {7: RuntimeError("process died")}
    with pytest.raises(RuntimeError):
        run_sync(config, now=NOW, connector=conn)
    with State(config.state) as state:
        assert state.item_counts().get("planned", 0) > 0
    fresh = MemConnector(tmp_path)
    outcome = run_sync(config, now=NOW, connector=fresh)
    assert outcome.windows[0].resumed
    with State(config.state) as state:
        planned = state.item_counts()
        runs = state.runs("mem", status="done")
    assert set(planned) == {"written"}
    assert len(runs) == 6
    assert len(sink_lines(tmp_path)) == planned["written"]


def test_retries_exhausted_stop_partial_and_next_run_continues(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    conn = MemConnector(tmp_path)
    conn.fail_writes = {n: RetriableSourceError("HTTP 503") for n in range(3, 30)}
    sleeps: list[float] = []
    log = NullLog()
    outcome = run_sync(config, now=NOW, log=log, connector=conn, sleep=sleeps.append)
    assert outcome.partial and outcome.exit_code == ExitCode.PARTIAL
    assert len(sleeps) == 2  # attempts = 3
    assert any(x["event"] == "partial" for x in log.lines)
    with State(config.state) as state:
        statuses = [r.status for r in state.runs(status=None)]
    assert statuses == ["partial"]
    conn.fail_writes = {}
    outcome = run_sync(config, now=NOW, connector=conn)
    assert not outcome.partial and len(outcome.windows) == 6 and outcome.windows[0].resumed
    with State(config.state) as state:
        assert set(state.item_counts()) == {"written"}
    assert len(sink_lines(tmp_path)) == sum(1 for _ in sink_lines(tmp_path))


def test_transient_pull_failures_are_retried(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    conn = MemConnector(tmp_path)
    conn.source.failures = [RetriableSourceError("HTTP 429", retry_after=0.5), TimeoutError("read timed out")]
    sleeps: list[float] = []
    outcome = run_sync(config, now=NOW, connector=conn, sleep=sleeps.append)
    assert not outcome.partial and len(outcome.windows) == 6
    assert sleeps[0] >= 0.5 and len(sleeps) == 2


def test_policy_change_starts_a_new_series(tmp_path: Path) -> None:
    conn = MemConnector(tmp_path)
    run_sync(make_config(tmp_path), now=T0 + 3 * H, connector=conn)
    changed = dict(POLICY, targets={"default": 9})
    log = NullLog()
    run_sync(make_config(tmp_path, policy=changed), now=NOW, log=log, connector=conn)
    assert any("new series 2" in x["message"] for x in log.lines)
    with State(tmp_path / "state.sqlite") as state:
        assert [r.series for r in state.runs()] == [1, 1, 2, 2, 2, 2]
        digests = [r.policy_digest for r in state.runs()]
        assert state.policy(digests[0])["targets"]["default"] == 6  # type: ignore[index]
        assert state.policy(digests[-1])["targets"]["default"] == 9  # type: ignore[index]
    design, _ = design_from_ledger(tmp_path / "state.sqlite", since=None, until=NOW)
    assert len({c.window for c in design.cells}) == 4


def test_boost_stops_after_collect(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    outcome = run_sync(config, now=NOW, connector=MemConnector(tmp_path))
    with State(config.state) as state:
        assert state.boost_collected("mem") == {"refund": 12}
        design, _ = design_from_ledger(config.state, since=None, until=NOW)
    boosted = sum(c.sampled for c in design.cells if c.kind.value == "boost")
    assert boosted == 12
    late = [w for w in outcome.windows if w.window.start >= T0 + 5 * H]
    assert late  # the last windows still sample, without the boost
    assert not any(c.kind.value == "boost" and c.window and c.window.startswith("2026-11-23T05") for c in design.cells)


def test_scores_read_back_and_report_then_quiet(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    conn = MemConnector(tmp_path)
    run_sync(config, now=NOW, connector=conn)
    sampled = {x["trace_id"]: x for x in sink_lines(tmp_path).values()}
    by_id = {r.id: r for r in RECORDS}
    with (tmp_path / "scores.jsonl").open("wb") as handle:
        for trace_id in sorted(sampled)[: len(sampled) // 2]:
            value = judge(by_id[trace_id])["correct"]
            handle.write(orjson.dumps(Score(trace_id, "correct", value).to_json()) + b"\n")
    log = NullLog()
    outcome = run_sync(config, now=NOW + timedelta(minutes=5), log=log, connector=conn)
    assert outcome.scores_changed == len(sampled) // 2
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["metric"] == "correct"
    assert report["estimate"]["n_scored"] == len(sampled) // 2
    assert 0 <= report["estimate"]["ci_low"] <= report["estimate"]["mean"] <= report["estimate"]["ci_high"] <= 1
    log = NullLog()
    quiet = run_sync(config, now=NOW + timedelta(minutes=6), log=log, connector=conn)
    assert not quiet.changed and [x for x in log.lines if x["level"] != "debug"] == []


def test_scores_mixing_booleans_and_fractions_are_warned_not_averaged(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    conn = MemConnector(tmp_path)
    run_sync(config, now=NOW, connector=conn)
    ids = sorted({x["trace_id"] for x in sink_lines(tmp_path).values()})
    values: list[bool | float] = [True, False, 0.7]
    with (tmp_path / "scores.jsonl").open("wb") as handle:
        for i, trace_id in enumerate(ids[:9]):
            handle.write(orjson.dumps(Score(trace_id, "correct", values[i % 3]).to_json()) + b"\n")
    log = NullLog()
    outcome = run_sync(config, now=NOW + timedelta(minutes=5), log=log, connector=conn)
    assert outcome.scores_changed == 9 and outcome.reports == []
    warned = [x["message"] for x in log.lines if x["level"] == "warning"]
    assert len(warned) == 1 and "correct: mixes booleans with numbers (6 booleans, 3 numbers such as 0.7)" in warned[0]


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    log = NullLog()
    outcome = run_sync(config, now=NOW, dry_run=True, log=log, connector=MemConnector(tmp_path))
    assert len(outcome.windows) == 6 and all(w.written == 0 for w in outcome.windows)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # not even a lock file


def test_future_first_window_and_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="future"):
        run_sync(make_config(tmp_path), now=T0 - H, connector=MemConnector(tmp_path))
    with pytest.raises(ConfigError, match="unknown source 'mem'") as info:
        load_connector(make_config(tmp_path))
    assert "files" in str(info.value)
    bad = make_config(tmp_path, source={"type": "no_such_module_xyz:create"})
    with pytest.raises(ConfigError, match="cannot import"):
        load_connector(bad)


def test_secret_never_logged_or_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "-".join(("unit", "never", "logged", "5f1d0c9e"))
    monkeypatch.setenv("TS_UNIT_SECRET", secret)
    config = make_config(tmp_path, source={"type": "mem", "api_key_env": "TS_UNIT_SECRET"})
    conn = MemConnector(tmp_path)
    conn.fail_writes = {1: RetriableSourceError(f"HTTP 503 (server said: bad key {secret})")}
    log = NullLog(verbose=True)
    run_sync(config, now=NOW, log=log, connector=conn, sleep=lambda s: None)
    assert secret not in json.dumps(log.lines)
    assert any("***" in x["message"] for x in log.lines)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_render_name() -> None:
    window = Window(T0 + 13 * H, T0 + 14 * H)
    assert render_name("judge-{date}", window, "files?path=x", "abcdef0123456789") == "judge-2026-11-23"
    assert render_name("{window}", window, "files", "d") == "20261123T1300Z-20261123T1400Z"
    assert render_name("{source}-{policy}-{window_start}", window, "files?path=x", "abcdef0123456789") == "files-abcdef012345-20261123T1300Z"


# -- the files connector's sink and score source (what sync writes to and reads from) ----------


def _item(window: Window, trace: str, weight: float = 4.0) -> SampleItem:
    from tracestrata.protocols import item_id_for

    record = TraceRecord(id=trace, timestamp=window.start, metadata={"intent": "x"})
    return SampleItem(item_id_for("dataset:d", window, trace), record, "x", {"metadata.intent": "x"}, False, (), 1 / weight, weight, window)


def test_files_sink_upsert_counts_and_crash_leftovers(tmp_path: Path) -> None:
    window = Window(T0, T0 + H)
    sink = FilesSampleSink(tmp_path, SinkKind.DATASET, "judge/2026-11-23 (daily)")
    assert sink.path.parent == tmp_path / "datasets" and "/" not in sink.path.name
    first = sink.write([_item(window, "a"), _item(window, "b")])
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    before = sink.path.read_bytes()
    same = sink.write([_item(window, "a")])
    assert (same.created, same.updated, same.unchanged) == (0, 0, 1) and sink.path.read_bytes() == before
    changed = sink.write([_item(window, "a", weight=8.0)])
    assert changed.updated == 1 and len(sink.written_ids()) == 2
    assert len(sink.path.read_bytes().splitlines()) == 3  # appended; the last line of an id wins
    assert read_items(sink.path)[_item(window, "a").item_id]["metadata"]["weight"] == 8.0
    # a run killed mid-append leaves a torn last line: ignored by readers, cut by the next write
    with sink.path.open("ab") as handle:
        handle.write(b'{"item_id":"ghost","trace_id":"g","meta')
    fresh = FilesSampleSink(tmp_path, SinkKind.DATASET, "judge/2026-11-23 (daily)")
    assert fresh.written_ids() == {_item(window, "a").item_id, _item(window, "b").item_id}
    fresh.write([_item(window, "c")])
    assert len(read_items(fresh.path)) == 3 and b"ghost" not in fresh.path.read_bytes()
    # another writer appended whole lines meanwhile: they are kept, not cut
    other = FilesSampleSink(tmp_path, SinkKind.DATASET, "judge/2026-11-23 (daily)")
    other.write([_item(window, "d")])
    fresh.write([_item(window, "e")])
    assert len(read_items(fresh.path)) == 5


def test_files_sink_compacts_superseded_lines(tmp_path: Path) -> None:
    window = Window(T0, T0 + H)
    sink = FilesSampleSink(tmp_path, SinkKind.DATASET, "d")
    for weight in range(1, 80):
        sink.write([_item(window, "a", weight=float(weight)), _item(window, "b", weight=float(weight))])
    lines = sink.path.read_bytes().splitlines()
    assert len(lines) < 110 and len(read_items(sink.path)) == 2
    assert read_items(sink.path)[_item(window, "a").item_id]["metadata"]["weight"] == 79.0


def test_files_sink_and_scores_report_bad_lines(tmp_path: Path) -> None:
    from tracestrata.errors import InputError

    window = Window(T0, T0 + H)
    sink = FilesSampleSink(tmp_path, SinkKind.QUEUE, "q")
    sink.write([_item(window, "a")])
    sink.path.write_bytes(sink.path.read_bytes() + b"not json\n")
    with pytest.raises(InputError) as info:
        sink.written_ids()
    assert info.value.line == 2
    scores = tmp_path / "scores"
    scores.mkdir()
    (scores / "a.jsonl").write_bytes(b'{"trace_id": "a", "name": "correct", "value": true}\n{"trace_id": "b", "name": "q", "value": 3}\n')
    (scores / "b.jsonl").write_bytes(b'{"trace_id": "a", "name": "verdict", "value": "pass"}\n{"trace_id": "a", "na')  # being appended
    got = list(FilesScoreSource(scores).get_scores(["a", "b"], ["correct", "q", "verdict"]))
    assert [(s.trace_id, s.name, s.value) for s in got] == [("a", "correct", True), ("b", "q", 3.0), ("a", "verdict", "pass")]
    (scores / "c.jsonl").write_bytes(b'{"trace_id": "a"}\n')
    with pytest.raises(InputError, match="name"):
        list(FilesScoreSource(scores).get_scores(["a"], ["correct"]))
    assert list(FilesScoreSource(None).get_scores(["a"], ["x"])) == []


def test_sync_log_text_json_verbose_and_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from tracestrata.job.logs import SyncLog

    monkeypatch.setenv("TS_LOG_SECRET", "hunter2-secret")
    out, err = io.StringIO(), io.StringIO()
    log = SyncLog(out=out, err=err, secret_env=["TS_LOG_SECRET"])
    log.change("window", "done hunter2-secret", window="w")
    log.detail("skip", "hidden unless -v")
    log.warn("partial", "stopped")
    assert out.getvalue() == "done ***\n" and err.getvalue() == "warning: stopped\n"
    out, err = io.StringIO(), io.StringIO()
    log = SyncLog(out=out, err=err, verbose=True, fmt="json", secret_env=["TS_LOG_SECRET"])
    log.change("window", "done", window="hunter2-secret")
    log.detail("skip", "shown")
    line = json.loads(out.getvalue())
    assert line["event"] == "window" and line["level"] == "info" and line["window"] == "***"
    assert json.loads(err.getvalue())["message"] == "shown"


def test_late_traces_are_reported_once(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    conn = MemConnector(tmp_path)
    run_sync(config, now=T0 + 3 * H, connector=conn)  # windows 00-01, 01-02 (02-03 not settled)
    late = [
        TraceRecord(id=f"late{i}", timestamp=T0 + H + timedelta(minutes=10 + i), metadata={"intent": "billing"})
        for i in range(3)
    ]
    conn.source.records = list(RECORDS) + late
    log = NullLog()
    run_sync(config, now=T0 + 4 * H, connector=conn)  # samples 02-03, 03-04... re-counts 01-02
    log = NullLog()
    run_sync(config, now=T0 + 4 * H, log=log, connector=conn)
    with State(config.state) as state:
        counts = {r.window_start: r.counts for r in state.runs("mem")}
    assert counts[T0 + H]["late"] == 3
    assert "late" not in counts[T0] or counts[T0]["late"] == 0
    again = NullLog()
    run_sync(config, now=T0 + 4 * H, log=again, connector=conn)
    assert not [x for x in again.lines if x["event"] == "late"]  # said once


def test_late_check_can_be_turned_off(tmp_path: Path) -> None:
    config = make_config(tmp_path, window={"start": "2026-11-23T00:00:00Z", "late_check": 0})
    conn = MemConnector(tmp_path)
    run_sync(config, now=NOW, connector=conn)
    pulls = conn.source.pulls
    run_sync(config, now=NOW + H, connector=conn)
    assert conn.source.pulls == pulls + 1  # the new window only, no re-count

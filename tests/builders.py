"""Builders shared by the tests: policies, records on disk, sample summaries, record strategies."""

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import strategies as st

from tracestrata.design import CellKind
from tracestrata.job.state_rows import PlannedItem
from tracestrata.policy.parse import parse_policy
from tracestrata.synthetic import generate_traces, judge


def make_policy(target=6, multiplier=4.0, top=3, collect=4, overrides=None):
    return parse_policy(
        {
            "seed": "prop",
            "strata": [{"field": "metadata.intent", "top": top}, {"field": "latency_ms", "edges": [100, 1000]}],
            "targets": {"default": target, "overrides": overrides or {"compliance | *": target + 3}},
            "failure": {
                "multiplier": multiplier,
                "signals": [
                    {"name": "error", "field": "status", "equals": "error"},
                    {"name": "refusal", "field": "metadata.refusal", "equals": True},
                ],
            },
            "boost": [{"name": "refunds", "field": "metadata.intent", "equals": "refund", "collect": collect}],
        },
        source="test",
    )


def summarize(result):
    """{(stratum labels, kind): (population, sorted picked ids)} from a SampleResult."""
    picked = defaultdict(list)
    for s in result.selected:
        picked[s.cell].append(s.record.id)
    out = {}
    for cell in result.cells:
        labels = tuple(cell.values.values())
        kind = ("boost", cell.id.split(":", 1)[1]) if cell.kind is CellKind.BOOST else cell.kind.value
        out[(labels, kind)] = (cell.population, sorted(picked[cell.id]))
        assert len(picked[cell.id]) == cell.sampled
    return out


def write_jsonl(path, records, extra=None):
    lines = [orjson.dumps(r.to_json()) for r in records]
    for index, line in sorted((extra or {}).items()):
        lines.insert(index, line)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def write_synthetic_day(folder, n, seed):
    """`n` synthetic traces of 2026-01-01 in `folder`/traces.jsonl: (that path, the records)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = list(generate_traces(n, start=start, end=start + timedelta(days=1), seed=seed))
    return write_jsonl(folder / "traces.jsonl", records), records


def ledger_cells(run_id, failure=(4, 2), normal=(40, 3), boost=None):
    """Cells of stratum `a` as a sync run records them, (population, sampled) per kind, and their sampled
    traces (`<run_id>-f<i>`, `-n<i>`, `-b<i>`): (cells, sampled)."""
    cells, sampled = [], []
    for kind, cell, sizes in (("failure", "a#failure", failure), ("normal", "a#normal", normal), ("boost", "a#boost:refund", boost)):
        if sizes is None:
            continue
        population, picked = sizes
        cells.append({"cell": cell, "stratum": "a", "values": {"metadata.intent": "a"}, "kind": kind,
                      "population": population, "sampled": picked})
        sampled += [(f"{run_id}-{kind[0]}{i}", cell, {"stratum": "a"}) for i in range(picked)]
    return cells, sampled


def plan_window(state, run_id, start, cells, sampled, *, digest="d", source="files", items=None, boost_collected=None):
    """`state.plan_run` for the hour from `start`, its counts from `cells` and `sampled`; one dataset item per
    sampled trace unless `items` are given."""
    sampled = list(sampled)
    if items is None:
        items = [PlannedItem(f"{run_id}-{t}", "dataset", "d", t, {}) for t, _, _ in sampled]
    state.plan_run(
        run_id=run_id,
        source=source,
        window_start=start,
        window_end=start + timedelta(hours=1),
        policy_digest=digest,
        series=state.next_series(source, digest),
        cells=cells,
        counts={"traces": sum(c["population"] for c in cells), "selected": len(sampled)},
        sampled=sampled,
        items=items,
        boost_collected=boost_collected or {},
    )


def write_judge_scores(path, sample_dir, records, keep=lambda index: True):
    """Score JSONL with the synthetic judge's verdicts on the traces of `sample_dir`'s sample.jsonl
    (the `index`-th sampled trace only when `keep(index)`)."""
    by_id = {r.id: r for r in records}
    rows = [orjson.loads(line) for line in (sample_dir / "sample.jsonl").read_bytes().splitlines()]
    lines = [
        orjson.dumps({"trace_id": row["id"], "name": name, "value": value})
        for index, row in enumerate(rows)
        if keep(index)
        for name, value in judge(by_id[row["id"]]).items()
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run_report(folder, capsys, *args):
    """`tracestrata report` in-process on `folder`'s run/ and scores.jsonl: (exit code, stdout, stderr)."""
    from tracestrata.cli.main import main

    capsys.readouterr()
    code = main(["report", "--sample", str(folder / "run"), "--scores", f"jsonl:{folder / 'scores.jsonl'}", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


PATHS = [
    "name",
    "status",
    "tags",
    "release",
    "version",
    "user_id",
    "session_id",
    "latency_ms",
    "cost",
    "metadata.intent",
    "metadata.deep.key",
    "scores.user_feedback",
    "source.backend",
    "source.project",
]


record_values = st.fixed_dictionaries(
    {
        "name": st.none() | st.text(max_size=5) | st.integers(-(10**9), 10**9),
        "status": st.sampled_from([None, "ok", "error", ""]),
        "latency_ms": st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5),
        "tags": st.none() | st.lists(st.text(max_size=3), max_size=3),
        "metadata": st.none()
        | st.dictionaries(
            st.sampled_from(["intent", "deep"]),
            st.none()
            | st.booleans()
            | st.text(max_size=3)
            | st.fixed_dictionaries({"key": st.integers(-(10**9), 10**9)}),
        ),
        "scores": st.none() | st.dictionaries(st.just("user_feedback"), st.floats(0, 1) | st.booleans()),
        "release": st.none() | st.text(max_size=3),
        "source": st.none()
        | st.just("phoenix")
        | st.fixed_dictionaries({"backend": st.just("x"), "project": st.none() | st.just("p")}),
    }
)


# ---------------------------------------------------------------- TOML: policies and sync configs

#: Failure signals by name, as the tests' policies spell them.
SIGNALS = {
    "error": {"name": "error", "field": "status", "equals": "error"},
    "refusal": {"name": "refusal", "field": "metadata.refusal", "equals": True},
    "thumbs-down": {"name": "thumbs-down", "field": "scores.user_feedback", "lt": 0.5},
    "slow": {"name": "slow", "field": "latency_ms", "ge": 10000},
}


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else orjson.dumps(key).decode()


def toml_text(data: dict, prefix: str = "") -> str:
    """`data` as TOML: scalars first, then tables (`dict`) and arrays of tables (lists of dicts).

    Dicts under `inline` keys of a table stay inline (`overrides = { ... }`)."""
    lines, tables = [], []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict) and key != "overrides":
            tables.append((key, value, False))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value, True))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value, array in tables:
        name = f"{prefix}{key}"
        for table in value if array else [value]:
            out += f"\n[[{name}]]\n" if array else f"\n[{name}]\n"
            out += toml_text(table, prefix=f"{name}.").lstrip("\n")
    return out


def policy_data(
    seed: str = "test",
    *,
    strata=({"field": "metadata.intent", "top": 8},),
    default: int | None = 100,
    multiplier: float | None = 4,
    signals=("error", "refusal"),
    boosts=(),
    **targets,
) -> dict:
    """A policy as a dict (what `parse_policy` and `toml_text` take): the tests' usual shape, each part settable."""
    data: dict = {"seed": seed, "strata": [dict(s) for s in strata]}
    if targets := {k: v for k, v in {"default": default, **targets}.items() if v is not None}:
        data["targets"] = targets
    if multiplier is not None or signals:
        data["failure"] = {"multiplier": multiplier, "signals": [SIGNALS[s] if isinstance(s, str) else s for s in signals]}
    if boosts:
        data["boost"] = [dict(b) for b in boosts]
    return data


def policy_toml(seed: str = "test", **parts) -> str:
    """`policy_data` as a TOML policy file's text."""
    return toml_text(policy_data(seed, **parts))


def sync_config_toml(
    source: dict,
    policy: dict | str | None = None,
    *,
    state: str = "var/state.sqlite",
    window: dict | None = None,
    **tables,
) -> str:
    """A sync config's text: `source`, an inline `policy` dict (or a path), windows hourly from 2026-11-23 by
    default, and any other tables (`sink`, `scores`, `report`, `retry`) as given."""
    data: dict = {"state": state}
    if isinstance(policy, str):
        data["policy"] = policy
    data["source"] = source
    data["window"] = window or {"every": "1h", "start": "2026-11-23T00:00:00Z"}
    data.update(tables)
    if isinstance(policy, dict):
        data["policy"] = policy
    return toml_text(data)


def daily_ledger(state, days, strata, *, start=datetime(2026, 1, 1, tzinfo=UTC), seed=0, source="files",
                 digest="d", change=None):
    """`days` finished daily windows in `state`: per stratum (name, population, judged, rate) one normal cell
    whose judged traces score `correct` true with that rate (doubled from day `change[1]` for stratum
    `change[0]`, 0-based). Returns the trace ids per day."""
    import numpy as np

    from tracestrata.record import Score

    rng = np.random.default_rng(seed)
    ids = []
    for day in range(days):
        begin = start + timedelta(days=day)
        run_id = f"day{day}"
        cells, sampled, scores = [], [], []
        for name, population, judged, rate in strata:
            p = rate * (2 if change is not None and change[0] == name and day >= change[1] else 1)
            cells.append({"cell": f"{name}#normal", "stratum": name, "values": {"metadata.intent": name},
                          "kind": "normal", "population": population, "sampled": judged})
            for i, hit in enumerate(rng.random(judged) < p):
                trace = f"{run_id}-{name}-{i}"
                sampled.append((trace, f"{name}#normal", {"stratum": name}))
                scores.append(Score(trace, "correct", bool(hit)))
        state.plan_run(run_id=run_id, source=source, window_start=begin, window_end=begin + timedelta(days=1),
                       policy_digest=digest, series=state.next_series(source, digest), cells=cells,
                       counts={"traces": sum(c["population"] for c in cells), "selected": len(sampled)},
                       sampled=sampled, items=[PlannedItem(f"{run_id}-{t}", "dataset", "d", t, {}) for t, _, _ in sampled],
                       boost_collected={}, policy={"seed": "daily"} if day == 0 else None)
        state.finish_run(state.open_run(source, begin))
        state.store_scores(scores)
        ids.append([t for t, _, _ in sampled])
    return ids


def weighted_traffic():
    """Synthetic traffic with a heuristic; the edges: a missing score, 0, 1, out of range, non-ASCII ids."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = list(generate_traces(4000, start=start, end=start + timedelta(days=1), seed=21, heuristic=True))
    edges = [None, 0.0, 1.0, 1.5, -0.25, 0.5, 1e-300]
    for i in range(0, len(out), 37):
        scores = dict(out[i].scores)
        value = edges[(i // 37) % len(edges)]
        if value is None:
            scores.pop("heuristic")
        else:
            scores["heuristic"] = value
        out[i] = replace(out[i], id=["é-", "追踪-", "x"][i % 3] + out[i].id, scores=scores)
    return out


def priority_sampled_cells(seed: int, on_trace) -> tuple:
    """Three cells (N, judged m, first r of them reviewed) drawn by priority sampling, pi = min(1, w tau) with
    w ~ U(0.1, 0.5): the cells and, per judged trace, `on_trace(rng, cell_id, n, reviewed, size, pi)`'s unit.
    For the two-phase tests on a weighted phase 1 (`estimate.weighted_twophase`)."""
    import numpy as np

    from tracestrata.design import Cell

    rng = np.random.default_rng(seed)
    cells, units = [], []
    for cid, big_n, m, r in (("a#normal", 2000, 120, 40), ("a#failure", 300, 40, 15), ("b#normal", 900, 80, 30)):
        cells.append(Cell(cid, cid.split("#")[0], {}, CellKind.NORMAL, big_n, m))
        size = rng.uniform(0.1, 0.5, big_n)
        u = rng.random(big_n)
        order = np.argsort(u / size)
        tau = (u / size)[order[m]]
        for n, i in enumerate(order[:m]):
            units.append(on_trace(rng, cid, big_n, n, n < r, float(size[i]), min(1.0, float(size[i] * tau))))
    return tuple(cells), units

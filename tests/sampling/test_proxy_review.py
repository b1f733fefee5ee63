"""`[[proxy]]` totals per cell over every trace, and the `[review]` subsample drawn inside the sample."""

import dataclasses

import numpy as np
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import orjson
import pytest
from builders import policy_data, toml_text, write_jsonl
from click.testing import CliRunner

from tracestrata.cli.main import cli, main
from tracestrata.connectors.files.source import FilesTraceSource, Part
from tracestrata.errors import ConfigError, InputError
from tracestrata.protocols import Window
from tracestrata.sampling.parallel import sample_parts
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.sketch import Sketch
from tracestrata.sampling.samplers import sample_column_batches, sample_records
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)


def with_heuristic(records):
    """Give every third trace no heuristic, the others a float or a boolean."""
    out = []
    for i, r in enumerate(records):
        scores = dict(r.scores)
        if i % 3 == 1:
            scores["heuristic"] = (i % 17) / 16
        elif i % 3 == 2:
            scores["heuristic"] = bool(i % 2)
        out.append(dataclasses.replace(r, scores=scores))
    return out


@pytest.fixture(scope="module")
def records():
    return with_heuristic(list(generate_traces(3000, start=T0, end=T1, seed=11)))


def make_policy(review=None, **extra):
    data = {**policy_data(default=40), "proxy": [{"field": "scores.heuristic"}]}
    data.update(extra)
    if review is not None:
        data["review"] = review
    return parse_policy(data, source="policy.toml")


def test_policy_parses_proxy_and_review_and_keeps_old_digests():
    plain = parse_policy(policy_data(), source="p")
    assert plain.proxies == () and plain.review is None
    assert "proxy" not in plain.to_json() and "review" not in plain.to_json()
    policy = make_policy(review={"target": 30})
    assert policy.proxies == ("scores.heuristic",)
    assert policy.review.target == 30 and policy.review.seed_suffix == "review"
    assert "scores.heuristic" in policy.fields()
    assert policy.digest != plain.digest
    with pytest.raises(ConfigError, match="proxy"):
        parse_policy({**policy_data(), "proxy": [{"field": "scores.h"}, {"field": "scores.h"}]}, source="p")
    with pytest.raises(ConfigError, match="review.target"):
        parse_policy({**policy_data(), "review": {"target": 0}}, source="p")
    with pytest.raises(ConfigError, match="review.extra"):
        parse_policy({**policy_data(), "review": {"target": 3, "extra": 1}}, source="p")


def test_cell_totals_are_over_every_trace_of_the_cell(records):
    policy = make_policy()
    result = sample_records(records, policy)
    total = [0, 0.0, 0.0]
    for r in records:
        v = r.scores.get("heuristic")
        if v is not None:
            total[0] += 1
            total[1] += float(v)
            total[2] += float(v) ** 2
    cells = [c.proxy["scores.heuristic"] for c in result.cells]
    assert sum(c.n for c in cells) == total[0] == 2000
    assert math.isclose(sum(c.sum for c in cells), total[1], rel_tol=1e-12)
    assert math.isclose(sum(c.sumsq for c in cells), total[2], rel_tol=1e-12)
    assert all(c.n <= cell.population for c, cell in zip(cells, result.cells, strict=True))
    by_id = {r.id: r.scores.get("heuristic") for r in records}
    for s in result.selected:
        expected = by_id[s.record.id]
        assert s.proxy["scores.heuristic"] == (None if expected is None else float(expected))


def test_totals_do_not_depend_on_batches_or_jobs(tmp_path, records):
    policy = make_policy(review={"target": 7})
    path = write_jsonl(tmp_path / "t.jsonl", records)
    source = FilesTraceSource(path, chunk_bytes=40_000)
    window = Window(T0 + timedelta(hours=2), T0 + timedelta(hours=21))
    one = sample_column_batches(source.iter_column_batches(window, policy.fields()), policy)
    size = path.stat().st_size
    edges = sorted({0, size, *(size * i // 5 for i in range(1, 5))})
    parts = [Part(path, a, b) for a, b in pairwise(edges)]
    many = sample_parts(source, policy, window, parts, jobs=2)
    assert [c.to_json() for c in many.cells] == [c.to_json() for c in one.cells]
    assert [s.to_json() for s in many.selected] == [s.to_json() for s in one.selected]
    state = Sketch.from_state(policy, Sketch(policy).to_state())
    assert state.groups == {}


def test_cli_jobs_1_and_2_write_identical_manifests_with_proxies(tmp_path, records):
    path = write_jsonl(tmp_path / "t.jsonl", records)
    (tmp_path / "p.toml").write_text(toml_text({**policy_data(default=40), "proxy": [{"field": "scores.heuristic"}]}))
    manifests = []
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        run = CliRunner().invoke(cli, ["sample", "--source", str(path), "--policy", str(tmp_path / "p.toml"),
                                       "--out", str(out), "--jobs", str(jobs)])
        assert run.exit_code == 0, run.output
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        manifests.append([c for c in manifest["cells"]])
    assert manifests[0] == manifests[1]
    assert all(set(c["proxy"]["scores.heuristic"]) == {"n", "sum", "sumsq"} for c in manifests[0])


def test_review_subsample_is_target_per_stratum_with_exact_conditional_probability(records):
    policy = make_policy(review={"target": 9})
    result = sample_records(records, policy)
    by_stratum = defaultdict(list)
    for s in result.selected:
        by_stratum[s.stratum].append(s)
    for stratum, rows in by_stratum.items():
        reviewed = [s for s in rows if s.review]
        assert len(reviewed) == min(9, len(rows)), stratum
        by_cell = defaultdict(list)
        for s in rows:
            by_cell[s.cell].append(s)
        for cell_rows in by_cell.values():
            r = sum(s.review for s in cell_rows)
            assert {s.review_probability for s in cell_rows} == {r / len(cell_rows)}
    line = result.selected[0].to_json()
    assert "review" in line and "review_probability" in line
    again = sample_records(list(reversed(records)), policy)
    assert {s.record.id for s in again.selected if s.review} == {s.record.id for s in result.selected if s.review}
    other = sample_records(records, make_policy(review={"target": 9, "seed_suffix": "other"}))
    assert {s.record.id for s in other.selected} == {s.record.id for s in result.selected}
    assert {s.record.id for s in other.selected if s.review} != {s.record.id for s in result.selected if s.review}


def test_without_review_lines_are_unchanged(records):
    result = sample_records(records, parse_policy(policy_data(default=40), source="p"))
    line = result.selected[0].to_json()
    assert "review" not in line and "review_probability" not in line
    assert all(not c.proxy for c in result.cells)


def test_review_is_drawn_by_bottom_k_on_a_second_hash():
    """Every trace of a cell is reviewed with the same probability: inclusion frequencies over seeds."""
    records = list(generate_traces(60, start=T0, end=T1, seed=3))
    counts = defaultdict(int)
    draws = 400
    for seed in range(draws):
        data = {**policy_data(f"s{seed}", strata=(), default=1000, signals=()), "review": {"target": 15}}
        result = sample_records(records, parse_policy(data, source="p"))
        for s in result.selected:
            counts[s.record.id] += s.review
    freqs = [counts[r.id] / draws for r in records]
    assert all(abs(f - 0.25) < 0.12 for f in freqs)
    assert abs(sum(freqs) / len(freqs) - 0.25) < 1e-9


def test_a_non_numeric_proxy_is_one_line(tmp_path, records, capsys):
    bad = [dataclasses.replace(records[0], scores={**records[0].scores, "heuristic": "high"}), *records[1:50]]
    with pytest.raises(InputError, match="expected a number or boolean proxy value"):
        sample_records(bad, make_policy())
    path = write_jsonl(tmp_path / "t.jsonl", bad)
    (tmp_path / "p.toml").write_text(toml_text({**policy_data(), "proxy": [{"field": "scores.heuristic"}]}))
    capsys.readouterr()
    code = main(["sample", "--source", str(path), "--policy", str(tmp_path / "p.toml"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "heuristic" in err


def test_a_proxy_missing_on_every_trace_is_one_line(tmp_path, records, capsys):
    path = write_jsonl(tmp_path / "t.jsonl", records[:200])
    (tmp_path / "p.toml").write_text(toml_text({**policy_data(), "proxy": [{"field": "scores.nope"}]}))
    capsys.readouterr()
    code = main(["sample", "--source", str(path), "--policy", str(tmp_path / "p.toml"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "scores.nope" in err


def test_fixed_point_sums_are_exact_for_any_magnitude():
    import numpy as np

    from tracestrata.sampling.proxies import SCALE_BITS, group_totals

    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0, 1e6, 500), rng.uniform(0, 1, 500), [-3.5, 1e12, np.nan]])
    groups = rng.integers(0, 4, len(values))
    got = group_totals(values, groups, 4)
    for g in range(4):
        v = values[(groups == g) & ~np.isnan(values)]
        q = [int(x) for x in np.rint(v * 2.0**SCALE_BITS)]
        assert got[g] == (len(v), sum(q), sum(int(x) for x in np.rint(v * v * 2.0**SCALE_BITS)))
    halves = [group_totals(values[:400], groups[:400], 4), group_totals(values[400:], groups[400:], 4)]
    assert [tuple(a + b for a, b in zip(x, y, strict=True)) for x, y in zip(*halves, strict=True)] == got


def test_active_example_policy_buckets_the_synthetic_heuristic_and_records_it():
    from pathlib import Path

    from tracestrata.policy.parse import load_policy
    from tracestrata.synthetic import judge

    policy = load_policy(Path(__file__).resolve().parents[2] / "examples" / "policies" / "active.toml")
    plain = list(generate_traces(4000, start=T0, end=T1, seed=2))
    traces = list(generate_traces(4000, start=T0, end=T1, seed=2, heuristic=True))
    assert [r.id for r in traces] == [r.id for r in plain]  # the proxy changes nothing else
    result = sample_records(traces, policy)
    assert sum(c.proxy["scores.heuristic"].n for c in result.cells) == len(traces)
    middle = [c for c in result.cells if c.values["scores.heuristic"] == "0.4–0.6"]
    edge = [c for c in result.cells if c.values["scores.heuristic"] == ">=0.8"]
    rate = lambda cells: sum(c.sampled for c in cells) / sum(c.population for c in cells)  # noqa: E731
    assert rate(middle) > rate(edge)  # the uncertain bucket is judged more
    h = np.array([r.scores["heuristic"] for r in traces])
    y = np.array([float(judge(r)["correct"]) for r in traces])
    assert np.corrcoef(h, y)[0, 1] > 0.3
    assert sum(s.review for s in result.selected) > 0

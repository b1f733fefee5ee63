"""build_report: the JSON schema, every warning, categorical metrics, --compare flags."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tracestrata.design import Cell, CellKind, Design, Unit
from tracestrata.errors import ConfigError, EstimationError, InputError
from tracestrata.estimate.estimators import LonelyCell
from tracestrata.estimate.render import render_markdown
from tracestrata.estimate.report import MetricKind, build_report
from tracestrata.io.jsonl import read_scores_jsonl
from tracestrata.record import Score


def make(spec, attrs=None):
    """spec: (stratum, kind, N, [values; None = sampled, unscored]) -> (design, scores)."""
    cells, units, scores = [], [], []
    for stratum, kind, big_n, values in spec:
        cid = f"{stratum}#{kind.value}"
        cells.append(Cell(cid, stratum, {"metadata.intent": stratum}, kind, big_n, len(values)))
        for j, v in enumerate(values):
            tid = f"{cid}/{j}"
            units.append(Unit(tid, cid, (attrs or (lambda s, j: {}))(stratum, j)))
            if v is not None:
                scores.append(Score(tid, "m", v))
    return Design(tuple(cells), tuple(units)), scores


N, F = CellKind.NORMAL, CellKind.FAILURE
BASIC = [
    ("billing", N, 1000, [True, True, False, True, True, None]),
    ("billing", F, 50, [False, False, True]),
    ("tech", N, 400, [True, False, True, True]),
    ("tech", F, 30, [False]),  # single score
    ("quiet", N, 80, [None, None]),  # stratum without scores
]


def test_schema_keys_for_a_rate():
    design, scores = make(BASIC)
    out = build_report(design, scores + [Score("stranger", "m", True)], "m").to_json()
    assert {"metric", "estimate", "naive", "strata", "warnings"} <= set(out)
    assert {"mean", "ci_low", "ci_high", "n_scored", "method"} <= set(out["estimate"])
    assert {"mean", "ci_low", "ci_high", "n_scored"} <= set(out["naive"])
    for row in out["strata"]:
        assert {"stratum", "values", "population", "sampled", "scored", "mean", "ci_low", "ci_high"} <= set(row)
    assert out["kind"] == "rate" and out["estimate"]["method"] == "korn-graubard"
    assert [r["stratum"] for r in out["strata"]] == ["billing", "quiet", "tech"]
    billing = out["strata"][0]
    assert (billing["population"], billing["sampled"], billing["scored"], billing["unscored"]) == (1050, 9, 8, 1)
    assert billing["values"] == {"metadata.intent": "billing"}
    assert billing["method"] == "wilson-effective-n"
    quiet = out["strata"][1]
    assert quiet["mean"] is None and quiet["scored"] == 0
    json.dumps(out, allow_nan=False)  # no NaN anywhere


def test_every_warning_is_reported():
    design, scores = make(BASIC)
    scores = scores + [Score("stranger", "m", True), Score("billing#normal/0", "m", False)]
    report = build_report(design, scores, "m")
    codes = {w.code: w for w in report.warnings}
    assert set(codes) == {"scores_outside_sample", "duplicate_scores", "stratum_without_scores",
                          "single_score_cells", "unscored_sampled"}
    assert codes["scores_outside_sample"].details["examples"] == ["stranger"]
    assert codes["stratum_without_scores"].details["population_share"] == pytest.approx(80 / 1560)
    assert codes["single_score_cells"].details["cells"] == ["tech#failure"]
    assert codes["unscored_sampled"].details["by_cell"] == {"billing#normal": 1, "quiet#normal": 2}
    # the latest duplicate wins: billing#normal/0 is now False
    assert report.naive.n_scored == 13 and report.naive.mean == pytest.approx(7 / 13)
    assert report.estimate.covered_share == pytest.approx(1480 / 1560)


def test_duplicate_uses_latest_updated_at():
    design, _ = make([("a", N, 10, [None, None])])
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    scores = [Score("a#normal/0", "m", 4.0, updated_at=late), Score("a#normal/0", "m", 2.0, updated_at=early),
              Score("a#normal/1", "m", 3.0)]
    report = build_report(design, scores, "m")
    assert report.kind is MetricKind.MEAN and report.estimate.mean == pytest.approx(3.5)


def test_cells_without_scores_inside_scored_strata():
    design, scores = make([("a", N, 100, [1.0, 2.0, 3.0]), ("a", F, 10, [None, None])])
    report = build_report(design, scores, "m")
    w = [w for w in report.warnings if w.code == "cells_without_scores"]
    assert w and w[0].details["cells"] == ["a#failure"] and w[0].details["population"] == 10


def test_mean_metric_and_naive_differ_under_oversampling():
    design, scores = make([("a", N, 1000, [5.0, 5.0, 4.0, 5.0]), ("a", F, 10, [1.0, 1.0, 2.0, 1.0])])
    out = build_report(design, scores, "m").to_json()
    assert out["kind"] == "mean" and out["estimate"]["method"] == "t"
    assert out["estimate"]["mean"] == pytest.approx((1000 * 4.75 + 10 * 1.25) / 1010)
    assert out["naive"]["mean"] == pytest.approx(3.0)


def test_categorical_reports_one_rate_per_label():
    design, _ = make([("a", N, 100, [None] * 4), ("a", F, 10, [None] * 2)])
    labels = ["pass", "pass", "minor", "fail", "fail", "fail"]
    scores = [Score(u.trace_id, "verdict", lab) for u, lab in zip(design.units, labels, strict=True)]
    report = build_report(design, scores, "verdict")
    out = report.to_json()
    assert out["kind"] == "categorical" and list(out["labels"]) == ["fail", "minor", "pass"]
    total = sum(sub["estimate"]["mean"] for sub in out["labels"].values())
    assert total == pytest.approx(1.0)
    fail = out["labels"]["fail"]
    assert fail["metric"] == "verdict=fail" and fail["estimate"]["mean"] == pytest.approx((100 * 0.25 + 10 * 1.0) / 110)
    assert {"estimate", "naive", "strata", "warnings"} <= set(fail)


def test_user_mistakes_are_typed_errors():
    design, scores = make(BASIC)
    with pytest.raises(EstimationError, match="no score named 'x'"):
        build_report(design, scores, "x")
    with pytest.raises(EstimationError, match="mixes labels"):
        build_report(design, scores + [Score("tech#normal/0", "m", "odd"), Score("tech#normal/1", "m", 1.0)][:1]
                     + [Score("billing#failure/0", "m", True)], "m")
    with pytest.raises(EstimationError, match=r"mixes booleans with numbers \(\d+ booleans, 1 number such as 0.7\)"):
        build_report(design, scores + [Score("billing#failure/0", "m", True), Score("tech#normal/0", "m", 0.7)], "m")
    booleans_and_0_1 = [Score(u.trace_id, "ok", bool(i % 2) if i % 3 else float(i % 2))
                        for i, u in enumerate(design.units)]
    assert build_report(design, booleans_and_0_1, "ok").kind.value == "rate"  # 0.0/1.0 with booleans: still a rate
    with pytest.raises(ConfigError, match="confidence"):  # one check of a confidence everywhere
        build_report(design, scores, "m", confidence=1.5)
    with pytest.raises(EstimationError, match="single score"):
        build_report(design, scores, "m", lonely=LonelyCell.ERROR)


def test_no_scores_is_a_clean_empty_report():
    design, _ = make(BASIC)
    out = build_report(design, [], "m").to_json()
    assert out["estimate"]["mean"] is None and out["estimate"]["n_scored"] == 0
    assert "no_scores" in {w["code"] for w in out["warnings"]}


def release(stratum, j):
    return {"release": "v1" if j % 2 == 0 else "v2"}


def test_compare_flags_a_masked_effect():
    # x: v2 is much better; y: v2 is much worse; the mix nets out to no global change
    x = [j % 2 == 1 for j in range(40)]
    y = [j % 2 == 0 for j in range(40)]
    design, scores = make([("x", N, 1000, x), ("y", N, 1000, y)], attrs=release)
    report = build_report(design, scores, "m", compare="release")
    c = report.comparison
    assert c is not None and (c.a, c.b) == ("v1", "v2")
    assert c.overall.delta == pytest.approx(0.0) and not c.overall.significant
    assert [d.delta for d in c.strata] == pytest.approx([1.0, -1.0])
    assert c.flags == ("masked",)
    out = report.to_json()["compare"]
    assert out["groups"] == ["v1", "v2"] and out["flags"] == ["masked"]
    assert "masked_effect" in {w.code for w in report.warnings}


def test_compare_flags_simpson_and_handles_missing_groups():
    big_up = [j % 2 == 1 or j % 5 == 0 for j in range(60)]  # v2 better
    small_down = [j % 2 == 0 for j in range(40)]  # v2 worse
    design, scores = make([("x", N, 5000, big_up), ("y", N, 100, small_down)], attrs=release)
    c = build_report(design, scores, "m", compare="release").comparison
    assert c is not None and c.overall.significant and c.overall.delta > 0
    assert "simpson" in c.flags
    lone = build_report(design, scores, "m", compare="metadata.model")
    codes = {w.code for w in lone.warnings}
    assert lone.comparison is None and {"compare_field_missing", "compare_needs_two_groups"} <= codes


def test_read_scores_jsonl(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"trace_id":"a","name":"m","value":1}\n\n{"trace_id":"b","name":"m"}\nnot json\n')
    with pytest.raises(InputError) as info:
        read_scores_jsonl(path)
    assert str(info.value) == f"{path}:3: value: missing"
    scores, bad = read_scores_jsonl(path, skip_bad=True)
    assert [s.trace_id for s in scores] == ["a"] and bad == 2 and scores[0].value == 1.0
    with pytest.raises(InputError, match="no such file"):
        read_scores_jsonl(tmp_path / "nope.jsonl")


def test_rate_interval_choice():
    from tracestrata.estimate.intervals import IntervalMethod

    design, scores = make(BASIC)
    out = build_report(design, scores, "m", rate_interval=IntervalMethod.KORN_GRAUBARD_TRUNCATED).to_json()
    assert out["estimate"]["method"] == "korn-graubard-truncated"
    with pytest.raises(EstimationError):
        build_report(design, scores, "m", rate_interval=IntervalMethod.WILSON)


def test_small_strata_rate_deltas_stay_in_range_never_collapse_and_are_not_flagged():
    # "s": 3 judged per group, v1 all wrong, v2 all right; "t": 1 + 2 judged in a heavy cell
    s = [j % 2 == 1 for j in range(6)]
    t = [False, True, True]
    big = [j % 2 == 1 or j % 3 == 0 for j in range(60)]
    design, scores = make([("s", N, 500, s), ("t", N, 2000, t), ("x", N, 3000, big)], attrs=release)
    report = build_report(design, scores, "m", compare="release")
    c = report.comparison
    assert c is not None
    by = {d.scope: d for d in c.strata}
    for d in (c.overall, *c.strata):
        assert -1.0 <= d.ci_low <= d.delta <= d.ci_high <= 1.0
        assert d.method.value == "newcombe-hybrid-score"
    assert by["s"].delta == pytest.approx(1.0) and by["s"].ci_low < 0.75 and by["s"].ci_high == 1.0  # 3/3 vs 0/3
    assert by["s"].excludes_zero and by["s"].too_few and not by["s"].significant
    assert by["t"].ci_high - by["t"].ci_low > 0.5 and not by["t"].significant
    out = report.to_json()["compare"]["strata"]
    assert [(r["scope"], r["too_few"], r["significant"]) for r in out] == [
        ("s", True, False), ("t", True, False), ("x", False, True)]
    text = render_markdown(report)
    assert "| s | 0.0% | 100.0% | +100.0 pp |" in text and "too few judged (< 10 per group)" in text
    assert text.count("| moved |") == 2  # the global delta and x


def test_compare_warnings_use_the_tables_units():
    x = [j % 2 == 1 for j in range(40)]
    y = [j % 2 == 0 for j in range(40)]
    design, scores = make([("x", N, 1000, x), ("y", N, 1000, y)], attrs=release)
    masked = next(w for w in build_report(design, scores, "m", compare="release").warnings if w.code == "masked_effect")
    assert "x (+100.0 pp)" in masked.message and "y (-100.0 pp)" in masked.message
    means = [Score(s.trace_id, "m", 2.0 + float(s.value)) for s in scores]
    masked = next(w for w in build_report(design, means, "m", compare="release").warnings if w.code == "masked_effect")
    assert "x (+1.000)" in masked.message


def test_census_and_near_census_rate_intervals_reflect_the_fpc_like_means():
    right = [j % 10 != 0 for j in range(90)]  # 81 of 90 right
    design, scores = make([("census", N, 90, right), ("near", N, 90, [True] * 89), ("far", N, 9000, [True] * 89)])
    rows = {r.stratum: r.estimate for r in build_report(design, scores, "m").strata}
    census = rows["census"]
    assert census.ci_low == census.mean == census.ci_high == pytest.approx(0.9)  # every trace judged: known
    assert rows["near"].ci_low == pytest.approx(89 / 90) and rows["near"].ci_high == 1.0  # 89 of 90, all right: at least 89/90
    assert rows["far"].ci_low < 0.97  # a 1% sample of 9,000: no such knowledge
    means = {r.stratum: r.estimate for r in build_report(
        design, [Score(s.trace_id, "m", 1.5 + float(s.value)) for s in scores], "m").strata}
    assert means["census"].ci_low == means["census"].ci_high  # the mean of a census was a point already

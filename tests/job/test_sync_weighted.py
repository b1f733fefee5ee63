"""A weighted policy (`[sampling] weight`) through `sync`: each sampled trace's own pi reaches the
ledger, and a report over many windows weighs each judged trace by it."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from test_sync import NOW, POLICY, T0, MemConnector, make_config

from tracestrata.estimate.estimators import ScoredFrame, UnequalFrame
from tracestrata.job.ledger import design_from_ledger
from tracestrata.job.state import State
from tracestrata.job.sync import run_sync
from tracestrata.synthetic import generate_traces

RECORDS = list(generate_traces(1200, start=T0, end=T0 + timedelta(hours=6), seed=3, heuristic=True))
WEIGHTED = {**POLICY, "proxy": [{"field": "scores.heuristic"}],
            "sampling": {"weight": "proxy_uncertainty:scores.heuristic"}}


def test_the_ledger_keeps_each_traces_pi_and_the_report_uses_it(tmp_path):
    config = make_config(tmp_path, policy=WEIGHTED)
    outcome = run_sync(config, now=NOW, connector=MemConnector(tmp_path, RECORDS))
    assert outcome.windows
    design, _ = design_from_ledger(config.state, since=None, until=NOW)
    probabilities = [u.probability for u in design.units]
    assert all(p is not None and 0 < p <= 1 for p in probabilities)
    cells = {c.id: c for c in design.cells}
    assert any(p != cells[u.cell].sampled / cells[u.cell].population for u, p in zip(design.units, probabilities,
                                                                                     strict=True))
    values = {u.trace_id: 1.0 for u in design.units}
    frame = ScoredFrame.build(design, values)
    assert isinstance(frame, UnequalFrame)
    by_cell = np.bincount(frame.code, weights=frame.weight, minlength=len(frame.cell_ids))
    scored = np.bincount(frame.code, minlength=len(frame.cell_ids)) > 0
    assert np.allclose(by_cell[scored], frame.population[scored])  # Hájek weights sum to N_c
    with State(config.state) as state:
        assert state.item_counts()


def test_plan_forecasts_what_the_weighting_buys(tmp_path):
    from tracestrata.plan.ledger import weighting_forecast
    from tracestrata.record import Score
    from tracestrata.synthetic import judge

    config = make_config(tmp_path, policy=WEIGHTED)
    run_sync(config, now=NOW, connector=MemConnector(tmp_path, RECORDS))
    design, _ = design_from_ledger(config.state, since=None, until=NOW)
    by_id = {r.id: r for r in RECORDS}
    scores = [Score(u.trace_id, "correct", bool(judge(by_id[u.trace_id])["correct"])) for u in design.units]
    line = weighting_forecast(config.state, design, scores, "correct", "scores.heuristic")
    assert line is not None and 'weight = "proxy_uncertainty:scores.heuristic"' in line and "x as wide" in line
    assert weighting_forecast(config.state, design, scores, "correct", None) is None
    assert weighting_forecast(config.state, design, scores, "correct", "score:correct") is None


def test_an_auto_floor_is_chosen_from_the_judged_windows_before(tmp_path):
    """`floor = "auto"` (the default): the first window takes the first-window floor; a window after
    judged ones takes the floor `estimate.floor_choice` forecasts best, the digest unchanged."""
    from tracestrata.estimate.floor_choice import MIN_JUDGED, UNCERTAINTY_FLOORS, choose_floor, judged_history
    from tracestrata.job.window_plan import auto_floor
    from tracestrata.protocols import Window
    from tracestrata.record import Score
    from tracestrata.policy.parse import parse_policy
    from tracestrata.estimate.floor_choice import FIRST_WINDOW_FLOOR
    from tracestrata.synthetic import judge

    config = make_config(tmp_path, policy=WEIGHTED)
    run_sync(config, now=NOW, connector=MemConnector(tmp_path, RECORDS))
    policy = parse_policy(WEIGHTED, source="t")
    assert policy.weight.auto and policy.weight.floor == FIRST_WINDOW_FLOOR
    later = Window(NOW, NOW + timedelta(hours=1))
    with State(config.state) as state:
        unjudged = auto_floor(policy, state, "mem", later, "correct")
        assert unjudged.weight.floor == FIRST_WINDOW_FLOOR
        design, _ = design_from_ledger(config.state, since=None, until=NOW)
        by_id = {r.id: r for r in RECORDS}
        state.store_scores([Score(u.trace_id, "correct", bool(judge(by_id[u.trace_id])["correct"]))
                            for u in design.units])
        source = state.runs()[0].source
        chosen = auto_floor(policy, state, source, later, "correct")
        assert chosen.weight.auto and chosen.digest == policy.digest
        assert chosen.weight.floor in UNCERTAINTY_FLOORS
        assert auto_floor(policy, state, source, later, None) is policy  # no metric: nothing to read
        history = judged_history(design, state.scores([u.trace_id for u in design.units]), "correct",
                                 "scores.heuristic")
        choice = choose_floor(history.frame, history.residual, policy.weight.raw_sizes(history.raw),
                              uncertainty=True, default=0.15)
        assert choice.judged == len(design.units) >= MIN_JUDGED and choice.floor == chosen.weight.floor


def test_an_auto_floor_without_the_field_in_the_ledger_keeps_the_first_window_floor(tmp_path):
    """A weight field the policy does not record (no `[[proxy]]`) is not in the ledger: nothing to forecast."""
    from tracestrata.estimate.floor_choice import judged_history
    from tracestrata.record import Score
    from tracestrata.synthetic import judge

    config = make_config(tmp_path, policy=WEIGHTED)
    run_sync(config, now=NOW, connector=MemConnector(tmp_path, RECORDS))
    design, _ = design_from_ledger(config.state, since=None, until=NOW)
    by_id = {r.id: r for r in RECORDS}
    scores = [Score(u.trace_id, "correct", bool(judge(by_id[u.trace_id])["correct"])) for u in design.units]
    assert judged_history(design, scores, "correct", "scores.heuristic") is not None
    assert judged_history(design, scores, "correct", "metadata.not_recorded") is None


def test_an_auto_floor_reads_the_judged_windows_of_an_earlier_series_and_edge_ledgers(tmp_path):
    """A changed weight is a new policy digest, so a new series (ledger reports restart), but the
    auto floor still reads the judged traces of the 7 days before the window, whatever policy drew
    them (each with the π it was drawn with): a forecast needs judged traces, not the same policy.
    Every judged trace identical (no spread to forecast): equal probability, never a low floor."""
    from tracestrata.estimate.floor_choice import choose_floor, judged_history
    from tracestrata.job.window_plan import auto_floor
    from tracestrata.protocols import Window
    from tracestrata.record import Score
    from tracestrata.policy.parse import parse_policy
    from tracestrata.synthetic import judge

    config = make_config(tmp_path, policy=WEIGHTED)
    run_sync(config, now=NOW, connector=MemConnector(tmp_path, RECORDS))
    design, _ = design_from_ledger(config.state, since=None, until=NOW)
    by_id = {r.id: r for r in RECORDS}
    expression = {**WEIGHTED, "sampling": {"weight": "expr: sqrt(scores.heuristic * (1 - scores.heuristic)) + 0.05"}}
    old, new = parse_policy(WEIGHTED, source="t"), parse_policy(expression, source="t")
    assert old.digest != new.digest and new.weight.floor == 0.15  # a new series; the first-window floor
    later = Window(NOW, NOW + timedelta(hours=1))
    with State(config.state) as state:
        source = state.runs()[0].source
        state.store_scores([Score(u.trace_id, "correct", bool(judge(by_id[u.trace_id])["correct"]))
                            for u in design.units])
        chosen = auto_floor(new, state, source, later, "correct")
        history = judged_history(design, state.scores([u.trace_id for u in design.units]), "correct",
                                 "scores.heuristic")
        expected = choose_floor(history.frame, history.residual, new.weight.raw_sizes(history.raw),
                                uncertainty=False, default=0.15)
        assert chosen.weight.floor == expected.floor and expected.judged == len(design.units)
        assert chosen.digest == new.digest  # the floor changes per window, the series does not

        state.store_scores([Score(u.trace_id, "correct", True) for u in design.units])  # all identical
        same = auto_floor(new, state, source, later, "correct")
        raw = new.weight.raw_sizes(history.raw)
        assert same.weight.floor == float(np.nanmax(raw))  # the top of the sizes: equal probability
        assert np.unique(same.weight.sizes(history.raw)).tolist() == [same.weight.floor]


def test_a_weight_change_is_a_new_series_and_an_auto_floor_is_not(tmp_path):
    """docs/sync.md "policy change": `[sampling]` and `[[proxy]]` are part of what a policy samples
    by; the floor `auto` picks per window is not (the policy still says "auto")."""
    from tracestrata.policy.parse import parse_policy

    config = make_config(tmp_path, policy=WEIGHTED)
    run_sync(config, now=NOW, connector=MemConnector(tmp_path, RECORDS))
    weighted = parse_policy(WEIGHTED, source="t")
    with State(config.state) as state:
        source = state.runs()[0].source
        series = state.last_run(source).series
        assert state.next_series(source, weighted.digest, weighted.to_json()) == series
        chosen = weighted.weight.with_floor(0.4)  # what auto_floor hands the sampler
        assert chosen.to_json() == weighted.weight.to_json()
        for changed in ({**WEIGHTED, "sampling": {"weight": "expr: scores.heuristic + 0.1"}},
                        {**WEIGHTED, "sampling": {"weight": "proxy_uncertainty:scores.heuristic", "floor": 0.2}},
                        {**WEIGHTED, "proxy": []}):
            policy = parse_policy(changed, source="t")
            assert state.next_series(source, policy.digest, policy.to_json()) == series + 1



def test_each_window_records_and_logs_the_floor_auto_took(tmp_path):
    """The floor `auto` takes for a window is auditable: it is in the run's counts and in a detail line."""
    import io

    from tracestrata.job.logs import SyncLog

    config = make_config(tmp_path, policy=WEIGHTED)
    out, err = io.StringIO(), io.StringIO()
    outcome = run_sync(config, now=NOW, connector=MemConnector(tmp_path, RECORDS),
                       log=SyncLog(verbose=True, out=out, err=err))
    assert outcome.windows
    with State(config.state) as state:
        runs = state.runs()
    assert runs and all(isinstance(r.counts.get("weight_floor"), float) for r in runs)
    assert "floor auto -> " in out.getvalue() + err.getvalue()

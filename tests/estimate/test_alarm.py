"""The alarm's core: its likelihood ratio, its vectorisation, its interval and its config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tracestrata.errors import ConfigError
from tracestrata.estimate.alarm import (
    alarm_threshold,
    change_interval,
    detect_changes,
    stabilized_variances,
)


def _direct_log_bf(x: np.ndarray, v: np.ndarray, s: int, rho2: float) -> float:
    """The Bayes factor of a shift from day s, the level integrated out (flat), by dense linear algebra."""
    n = len(x)

    def marginal(cov: np.ndarray) -> float:
        inv = np.linalg.inv(cov)
        one = np.ones(n)
        a, b = one @ inv @ one, one @ inv @ x
        return -0.5 * np.linalg.slogdet(cov)[1] - 0.5 * np.log(a) - 0.5 * (x @ inv @ x - b * b / a)

    after = (np.arange(n) >= s).astype(float)
    return marginal(np.diag(v) + rho2 * np.outer(after, after)) - marginal(np.diag(v))


def test_the_evidence_is_the_bayes_factor_of_a_shift_with_the_level_integrated_out():
    rng = np.random.default_rng(3)
    x, v = rng.normal(0.3, 0.1, 12), rng.uniform(0.005, 0.02, 12)
    track = detect_changes(x, v, min_history=5)
    t = 11
    rho2 = [v[:s].mean() for s in range(5, 12)]
    direct = [_direct_log_bf(x, v, s, r) for s, r in zip(range(5, 12), rho2, strict=True)]
    assert track.log_sr[t] == pytest.approx(np.log(np.exp(direct).sum()))
    assert track.best_start[t] == 5 + int(np.argmax(direct))
    assert np.all(np.isneginf(track.log_sr[:5]))  # no candidate day before 7 days of history


def test_vectorised_over_series_equals_one_at_a_time_and_a_missing_day_moves_no_contrast():
    rng = np.random.default_rng(4)
    x, v = rng.normal(0.5, 0.05, (3, 30)), np.full((3, 30), 0.0025)
    x[1, 10:14] = np.nan
    together = detect_changes(x, v)
    for i in range(3):
        alone = detect_changes(x[i], v[i])
        assert np.allclose(together.log_sr[i], alone.log_sr, equal_nan=True)
    gap = detect_changes(np.delete(x[1], range(10, 14)), np.delete(v[1], range(10, 14)))
    # a day without an estimate moves no contrast (its candidate start repeats the next day's)
    assert together.delta[1, -1] == pytest.approx(gap.delta[-1])
    assert together.variance[1, -1] == pytest.approx(gap.variance[-1])


def test_a_clear_shift_is_found_on_its_day_with_an_interval_around_it():
    x = np.r_[np.full(20, 0.10), np.full(10, 0.30)] + np.tile([0.01, -0.01], 15)
    v = np.full(30, 0.03**2)
    track = detect_changes(x, v)
    t = 29
    assert track.log_sr[t] > alarm_threshold(alpha=0.05, horizon=90, family=10)
    assert track.best_start[t] == 20
    low, high = change_interval(float(track.delta[t]), float(track.variance[t]), float(track.rho2[t]),
                                alpha=0.05, family=10)
    assert low < 0.2 < high and low > 0


def test_a_rate_with_no_failure_among_few_judged_is_not_exact():
    means = np.array([0.0, 0.1, 0.0])
    v = stabilized_variances(means, np.zeros(3), np.array([10, 10, 0]), rate=True)
    assert v[0] > 0 and v[1] >= 0.1 * 0.9 / 10 * 0.5 and np.isnan(v[2])


def test_watching_a_score_the_job_does_not_read_is_one_line(tmp_path: Path):
    from tracestrata.job.config import load_config

    (tmp_path / "policy.toml").write_text('seed = "t"\n[[strata]]\nfield = "metadata.intent"\n')
    (tmp_path / "sync.toml").write_text(
        'state = "s.sqlite"\npolicy = "policy.toml"\n[source]\ntype = "files"\npath = "t.jsonl"\n'
        '[window]\nevery = "1d"\nstart = "2026-01-01T00:00:00Z"\n[scores]\nnames = ["correct"]\n'
        '[alert]\nwatch = ["correct", "quality"]\n')
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "sync.toml")
    assert err.value.field == "alert.watch" and "'quality' is not a score the job reads" in str(err.value)
    (tmp_path / "sync.toml").write_text((tmp_path / "sync.toml").read_text().replace(', "quality"', ""))
    config = load_config(tmp_path / "sync.toml")
    assert config.watch == ("correct",) and config.alert_alpha == 0.05 and config.alert_horizon == 90
    assert config.report_by == "day"

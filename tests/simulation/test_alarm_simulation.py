"""The alarm's false-alarm rate over 90 daily looks, and how fast it sees a 0.5% slice break.

Vectorised over replications: each run is 90 days of per-stratum daily estimates with
the design's SEs, as `report --watch` reads them from the ledger (one stratum's day is a
binomial sample of its judged traces; the rare slice is 0.5% of the traffic but,
oversampled, has 50 judged traces a day). The numbers are the ones docs/trends.md states.
"""

from __future__ import annotations

import numpy as np

from tracestrata.estimate.alarm import alarm_threshold, detect_changes, stabilized_variances

DAYS = 90
REPS = 1500
ALPHA = 0.05
CHANGE_DAY = 60  # 1-based: day 60 is the first day with the doubled rate
# (judged per day, failure rate): a 0.5% slice, two big strata and the global rate
STRATA = ((50, 0.08), (400, 0.05), (400, 0.12), (900, 0.07))
DOCUMENTED_DELAY_P90 = 21  # docs/trends.md: 90% of such changes are flagged within 21 days


def _runs(rng: np.random.Generator, change: bool) -> np.ndarray:
    """First alarm day index of every (replication, stratum); -1 when none."""
    n = np.array([s[0] for s in STRATA], dtype=float)[None, :, None]
    p = np.broadcast_to(np.array([s[1] for s in STRATA])[None, :, None], (REPS, len(STRATA), DAYS)).copy()
    if change:
        p[:, 0, CHANGE_DAY - 1 :] *= 2.0
    counts = np.broadcast_to(n, p.shape)
    means = rng.binomial(counts.astype(int), p) / counts
    ses = np.sqrt(means * (1 - means) / counts)
    v = stabilized_variances(means, ses, counts, rate=True)
    track = detect_changes(means, v)
    return track.first_alarm(alarm_threshold(alpha=ALPHA, horizon=DAYS, family=len(STRATA)))


def test_no_change_raises_at_most_alpha_false_alarms_over_90_days():
    first = _runs(np.random.default_rng(20261207), change=False)
    any_alarm = (first >= 0).any(axis=1)  # family-wise: any stratum, any of the 90 days
    rate = any_alarm.mean()
    se = np.sqrt(ALPHA * (1 - ALPHA) / REPS)
    print(f"false alarms over {DAYS} days, {len(STRATA)} series: {rate:.4f} of {REPS} runs")
    assert rate <= ALPHA + 2 * se


def test_doubling_of_a_rare_slice_is_flagged_within_the_documented_days():
    first = _runs(np.random.default_rng(7), change=True)
    slice_first = first[:, 0]
    detected = slice_first >= CHANGE_DAY - 1
    early = (slice_first >= 0) & (slice_first < CHANGE_DAY - 1)
    delay = slice_first[detected] - (CHANGE_DAY - 1)
    quantiles = np.percentile(delay, [50, 90]) if delay.size else [np.inf, np.inf]
    print(f"detected {detected.mean():.3f}, early {early.mean():.4f}, delay median {quantiles[0]:.0f} "
          f"p90 {quantiles[1]:.0f} days")
    within = detected & (slice_first - (CHANGE_DAY - 1) < DOCUMENTED_DELAY_P90)
    assert within.mean() >= 0.90 - 2 * np.sqrt(0.09 / REPS)
    assert early.mean() <= ALPHA
    others = first[:, 1:]  # the unchanged strata stay quiet
    assert ((others >= 0).any(axis=1)).mean() <= ALPHA

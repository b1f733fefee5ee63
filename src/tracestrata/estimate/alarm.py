"""Alarms with a stated false-alarm rate: has a stratum's rate or mean moved from its own history?

A nightly job that tests "today vs the past" at 95% every day raises a false alarm
somewhere within weeks. Here every (stratum, metric) series of daily estimates x_1, x_2, …
with their design variances v_i is watched by a Shiryaev–Roberts e-detector
(Shin, Ramdas & Rinaldo, "E-detectors: a nonparametric framework for sequential change
detection", 2024) built from normal-mixture likelihood ratios, the mixture of Howard,
Ramdas, McAuliffe & Sekhon ("Time-uniform, nonparametric, nonasymptotic confidence
sequences", Ann. Statist. 2021):

* model: x_i = mu + delta * [i >= s] + e_i, e_i ~ N(0, v_i) independent (each day's
  windows are sampled independently), the level mu unknown;
* for each candidate change day s (with at least `min_history` days before it) the
  evidence for a shift is the Bayes factor of delta ~ N(0, rho_s^2) against delta = 0,
  with mu integrated out (flat): it depends on the data only through the contrast
  d = mean(after s) − mean(before s) (inverse-variance weighted), whose variance is
  V = 1/W_after + 1/W_before:
      LR_{s,t} = sqrt(V / (V + rho^2)) * exp(d^2 rho^2 / (2 V (V + rho^2)));
  it is the likelihood ratio of the level-free contrasts, so a martingale with mean 1
  under "no change", whatever mu is; rho_s^2 is the mean daily variance before s (a
  change of about one day's standard error, accumulated over days);
* R_t = sum_s LR_{s,t} is a non-negative submartingale with E[R_t] <= t, so by Doob's
  inequality P(max_{t <= H} R_t >= c) <= H / c. An alarm is R_t >= c with
  c = K * H / alpha for K watched series: the probability of any false alarm over the
  whole horizon of H daily looks, over all K series together, is at most alpha
  (Bonferroni over the series).

The alarm reports the most likely change day (the s maximising LR_{s,t}), the level
before and after it, and the change with its normal-mixture confidence-sequence
interval at level alpha / K (Howard et al. 2021, eq. (14)): time-uniform, so it stays
valid although it is read every day. Everything here is *analytic* (a process level and
its change, no finite-population correction). The guarantee holds as far as the daily
estimates are close to normal with the stated variances; `stabilized_variances` floors
the variance of a rate so a day with 0 failures in a small stratum is not read as exact.
Simulated in tests/simulation/test_alarm_simulation.py (docs/trends.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracestrata.estimate.report import format_value
from tracestrata.estimate.trend import Trend, aligned, json_number

__all__ = [
    "ChangeTrack",
    "Detection",
    "alarm_line",
    "alarm_threshold",
    "change_interval",
    "detect_changes",
    "stabilized_variances",
    "watch_trends",
]

DEFAULT_ALPHA = 0.05
DEFAULT_HORIZON = 90  # daily looks the false-alarm rate is stated over
DEFAULT_MIN_HISTORY = 7  # days before a candidate change day


def alarm_threshold(*, alpha: float, horizon: int, family: int) -> float:
    """The log of the threshold c = family * horizon / alpha on the Shiryaev–Roberts statistic."""
    return math.log(max(1, family) * max(1, horizon) / alpha)


def stabilized_variances(means: np.ndarray, ses: np.ndarray, counts: np.ndarray, *, rate: bool) -> np.ndarray:
    """Each day's variance for the detector: the design's SE squared; for a rate floored at
    p(1 − p)/n with p the pooled rate of the days so far (so a day with no failure among
    a few judged traces still carries its sampling noise). NaN where the day has no estimate.
    Shapes (..., T)."""
    means = np.asarray(means, dtype=float)
    v = np.asarray(ses, dtype=float) ** 2
    n = np.asarray(counts, dtype=float)
    ok = np.isfinite(means) & (n > 0)
    if rate:
        hits = np.cumsum(np.where(ok, means * n, 0.0), axis=-1)
        total = np.cumsum(np.where(ok, n, 0.0), axis=-1)
        pooled = (hits + 0.5) / (total + 1.0)  # a running pooled rate, never exactly 0 or 1
        floor = pooled * (1.0 - pooled) / np.where(n > 0, n, 1.0)
        v = np.fmax(np.where(np.isfinite(v), v, 0.0), floor)
    v = np.where(ok & np.isfinite(v) & (v > 0), v, np.nan)
    return v


@dataclass(frozen=True)
class ChangeTrack:
    """The detector over T days for every series (arrays of shape (..., T))."""

    log_sr: np.ndarray  # log R_t
    best_start: np.ndarray  # the most likely change day s at t (index; -1 when none)
    delta: np.ndarray  # d at the best s
    variance: np.ndarray  # V at the best s
    rho2: np.ndarray  # rho^2 at the best s
    before: np.ndarray  # weighted mean before the best s
    after: np.ndarray  # weighted mean from the best s to t

    def first_alarm(self, log_threshold: float) -> np.ndarray:
        """The first day index with log R_t >= the threshold, -1 when never (shape (...))."""
        hit = self.log_sr >= log_threshold
        first = np.argmax(hit, axis=-1)
        return np.where(hit.any(axis=-1), first, -1)


def detect_changes(means: np.ndarray, variances: np.ndarray, *, min_history: int = DEFAULT_MIN_HISTORY) -> ChangeTrack:
    """The Shiryaev–Roberts normal-mixture detector over daily estimates (module docstring).

    `means`, `variances`: shape (..., T), NaN for a day without an estimate (it adds no
    evidence). Vectorised over the leading axes (series, or simulation replications).
    """
    x = np.asarray(means, dtype=float)
    v = np.asarray(variances, dtype=float)
    ok = np.isfinite(x) & np.isfinite(v) & (v > 0)
    w = np.where(ok, 1.0 / np.where(ok, v, 1.0), 0.0)
    wx = np.where(ok, w * np.where(ok, x, 0.0), 0.0)
    zero = np.zeros(x.shape[:-1] + (1,))
    cw = np.concatenate([zero, np.cumsum(w, axis=-1)], axis=-1)  # cw[..., s] = weight of days < s
    cwx = np.concatenate([zero, np.cumsum(wx, axis=-1)], axis=-1)
    cv = np.concatenate([zero, np.cumsum(np.where(ok, v, 0.0), axis=-1)], axis=-1)
    cn = np.concatenate([zero, np.cumsum(ok, axis=-1)], axis=-1)
    T = x.shape[-1]
    starts = np.arange(T)
    shape = x.shape[:-1] + (T,)
    out = {k: np.full(shape, np.nan) for k in ("log_sr", "delta", "variance", "rho2", "before", "after")}
    best = np.full(shape, -1, dtype=int)
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(T):
            s = starts[min_history : t + 1]
            if s.size == 0:
                out["log_sr"][..., t] = -np.inf
                continue
            wb, sb = cw[..., s], cwx[..., s]
            wa, sa = cw[..., [t + 1]] - wb, cwx[..., [t + 1]] - sb
            rho2 = cv[..., s] / cn[..., s]
            usable = (wa > 0) & (wb > 0) & np.isfinite(rho2) & (rho2 > 0)
            before, after = sb / wb, sa / wa
            d = after - before
            V = 1.0 / wa + 1.0 / wb
            log_lr = 0.5 * np.log(V / (V + rho2)) + 0.5 * d * d * rho2 / (V * (V + rho2))
            log_lr = np.where(usable, log_lr, 0.0)  # no evidence either way: the ratio is 1
            top = log_lr.max(axis=-1, keepdims=True)
            out["log_sr"][..., t] = (top + np.log(np.exp(log_lr - top).sum(axis=-1, keepdims=True)))[..., 0]
            informative = np.where(usable, log_lr, -np.inf)
            k = np.argmax(informative, axis=-1)
            has = np.isfinite(np.take_along_axis(informative, k[..., None], axis=-1))[..., 0]
            best[..., t] = np.where(has, s[k], -1)
            for name, arr in (("delta", d), ("variance", V), ("rho2", rho2), ("before", before), ("after", after)):
                picked = np.take_along_axis(np.broadcast_to(arr, informative.shape), k[..., None], axis=-1)[..., 0]
                out[name][..., t] = np.where(has, picked, np.nan)
    return ChangeTrack(out["log_sr"], best, out["delta"], out["variance"], out["rho2"], out["before"], out["after"])


def change_interval(delta: float, variance: float, rho2: float, *, alpha: float, family: int) -> tuple[float, float]:
    """The normal-mixture confidence-sequence interval for the change at level alpha / family
    (Howard et al. 2021): time-uniform, so valid on any day it is read."""
    if not (math.isfinite(delta) and variance > 0 and rho2 > 0):
        return math.nan, math.nan
    a = alpha / max(1, family)
    half = math.sqrt(variance * (variance + rho2) / rho2 * (math.log((variance + rho2) / variance) + 2 * math.log(1 / a)))
    return delta - half, delta + half


@dataclass(frozen=True)
class Detection:
    """One watched series' state on its last day: an alarm stands when `alarm` is true."""

    stratum: str
    metric: str
    alarm: bool
    evidence: float  # log R_t
    threshold: float  # log c
    since: str | None  # the most likely change day's label
    baseline: float
    now: float
    change: float
    ci_low: float
    ci_high: float
    rate: bool

    def to_json(self) -> dict[str, Any]:
        num = json_number
        return {
            "stratum": self.stratum,
            "metric": self.metric,
            "alarm": self.alarm,
            "baseline": num(self.baseline),
            "now": num(self.now),
            "change": num(self.change),
            "ci_low": num(self.ci_low),
            "ci_high": num(self.ci_high),
            "since": self.since,
            "evidence": num(self.evidence),
            "threshold": self.threshold,
            "kind": "rate" if self.rate else "mean",
        }


def watch_trends(
    trends: Sequence[Trend],
    *,
    alpha: float = DEFAULT_ALPHA,
    horizon: int = DEFAULT_HORIZON,
    min_history: int = DEFAULT_MIN_HISTORY,
) -> list[Detection]:
    """Every series of every trend (per day) on its last day, the family being all of them."""
    family = sum(len(t.series) for t in trends)
    log_c = alarm_threshold(alpha=alpha, horizon=horizon, family=family)
    out: list[Detection] = []
    for trend in trends:
        for series in trend.series:
            means, ses, counts = aligned(series, trend.periods)
            if not means:
                continue
            m, s, n = np.array(means), np.array(ses), np.array(counts, dtype=float)
            track = detect_changes(m, stabilized_variances(m, s, n, rate=trend.rate), min_history=min_history)
            t = len(means) - 1
            start = int(track.best_start[t])
            delta, var, rho2 = float(track.delta[t]), float(track.variance[t]), float(track.rho2[t])
            low, high = change_interval(delta, var, rho2, alpha=alpha, family=family)
            evidence = float(track.log_sr[t])
            out.append(Detection(
                series.stratum, trend.metric, bool(evidence >= log_c), evidence, log_c,
                trend.periods[start] if start >= 0 else None, float(track.before[t]), float(track.after[t]),
                delta, low, high, trend.rate,
            ))
    return out


def alarm_line(d: Detection) -> str:
    """One line per alarm, for the job's output and `status`."""
    ci = "" if math.isnan(d.ci_low) else (
        f" ({format_value(d.ci_low, d.rate, signed=True)} to {format_value(d.ci_high, d.rate, signed=True)})")
    return (f"alarm: {d.metric} in {d.stratum}: {format_value(d.baseline, d.rate)} -> {format_value(d.now, d.rate)}, "
            f"change {format_value(d.change, d.rate, signed=True)}{ci} since {d.since}")

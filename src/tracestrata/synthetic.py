"""Deterministic synthetic LLM traffic with a known truth, and a simulated judge.

Used by the demo, the simulations (bias and coverage against the truth), the
benchmarks and the end-to-end tests. The traffic has what makes uniform sampling
fail: a compliance slice at 0.5% of volume, failures at a few percent that are
much more often judged wrong, and a `refund` cluster to boost.

The judge is a pure function of (trace id, seed): judging the same trace twice
gives the same verdict, so the population truth is well defined.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from tracestrata.record import ScoreValue, SourceRef, TraceRecord


@dataclass(frozen=True)
class Slice:
    """One intent: its share of traffic, how often it fails, how often the judge says correct."""

    share: float
    error_rate: float  # status == "error"
    refusal_rate: float  # metadata.refusal == True
    p_correct: float  # judged correct when nothing failed
    p_correct_failed: float  # judged correct when a failure signal fired
    latency_ms: float  # median latency


@dataclass(frozen=True)
class Scenario:
    slices: Mapping[str, Slice]
    personas: Mapping[str, float] = field(default_factory=lambda: {"free": 0.6, "pro": 0.3, "enterprise": 0.1})
    languages: Mapping[str, float] = field(
        default_factory=lambda: {"en": 0.7, "de": 0.1, "fr": 0.1, "es": 0.1}
    )
    releases: Mapping[str, float] = field(default_factory=lambda: {"v41": 0.5, "v42": 0.5})
    thumbs_down_rate: float = 0.02  # scores.user_feedback == 0 (else 1 when present)
    feedback_rate: float = 0.15  # share of traces with any user feedback
    project: str = "synthetic"


DEFAULT_SCENARIO = Scenario(
    slices={
        "billing": Slice(0.35, 0.02, 0.01, 0.92, 0.35, 900),
        "sales": Slice(0.20, 0.02, 0.02, 0.88, 0.30, 1100),
        "tech": Slice(0.20, 0.05, 0.02, 0.80, 0.25, 2500),
        "account": Slice(0.12, 0.03, 0.01, 0.90, 0.40, 800),
        "refund": Slice(0.05, 0.04, 0.05, 0.75, 0.30, 1500),
        "smalltalk": Slice(0.075, 0.01, 0.01, 0.97, 0.50, 400),
        "compliance": Slice(0.005, 0.06, 0.10, 0.70, 0.20, 4000),
    }
)

JUDGE_METRICS = ("correct", "quality", "verdict")


def generate_traces(
    n: int,
    *,
    start: datetime,
    end: datetime,
    seed: int = 0,
    scenario: Scenario = DEFAULT_SCENARIO,
    heuristic: bool = False,
) -> Iterator[TraceRecord]:
    """`n` traces with timestamps spread uniformly over `[start, end)`, in time order.

    `heuristic` adds `scores.heuristic` (`heuristic_score`), a cheap proxy of the judge's
    `correct` on every trace; the other fields are the same with or without it.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(f"tracestrata-synthetic:{seed}")
    span_us = int((end - start).total_seconds() * 1_000_000)
    offsets = sorted(rng.randrange(span_us) for _ in range(n))
    intents, intent_weights = zip(*((k, s.share) for k, s in scenario.slices.items()), strict=True)
    personas, persona_w = zip(*scenario.personas.items(), strict=True)
    languages, language_w = zip(*scenario.languages.items(), strict=True)
    releases, release_w = zip(*scenario.releases.items(), strict=True)
    source = SourceRef("synthetic", scenario.project)
    for offset in offsets:
        intent = rng.choices(intents, intent_weights)[0]
        spec = scenario.slices[intent]
        error = rng.random() < spec.error_rate
        refusal = rng.random() < spec.refusal_rate
        metadata: dict[str, object] = {
            "intent": intent,
            "persona": rng.choices(personas, persona_w)[0],
            "language": rng.choices(languages, language_w)[0],
            "refusal": refusal,
            "escalated": error and rng.random() < 0.3,
        }
        scores: dict[str, ScoreValue] = {}
        if rng.random() < scenario.feedback_rate:
            unhappy = error or refusal
            down = rng.random() < (0.5 if unhappy else scenario.thumbs_down_rate)
            scores["user_feedback"] = 0.0 if down else 1.0
        latency = spec.latency_ms * math.exp(rng.gauss(0.0, 0.6)) * (3.0 if error else 1.0)
        tokens = int(200 + rng.random() * 1800)
        record = TraceRecord(
            id=f"{rng.getrandbits(128):032x}",
            span_id=f"{rng.getrandbits(64):016x}",
            timestamp=start + timedelta(microseconds=offset),
            name="chat",
            status="error" if error else "ok",
            latency_ms=round(latency, 1),
            cost=round(tokens * 2e-6, 6),
            tags=("prod", intent),
            metadata=metadata,
            scores=scores,
            user_id=f"user-{rng.randrange(5000):04d}",
            session_id=f"session-{rng.randrange(20000):05d}",
            release=rng.choices(releases, release_w)[0],
            version="gpt-4o-mini" if rng.random() < 0.7 else "gpt-4o",
            source=source,
        )
        if heuristic:
            record = replace(record, scores={**record.scores, "heuristic": heuristic_score(record.id)})
        yield record


def heuristic_score(trace_id: str) -> float:
    """A proxy in [0, 1] of the default judge's `correct` (same per-trace uniform, plus noise):
    high when the judge is likely to say correct, correlated with it inside every slice."""
    u, _ = _uniforms(trace_id, 0)
    noise, _ = _uniforms(trace_id, 7919)
    return round(0.75 * (1.0 - u) + 0.25 * noise, 4)


def is_failure(record: TraceRecord) -> bool:
    """The failure definition the simulated judge keys on (matches examples/policies)."""
    return (
        record.status == "error"
        or record.metadata.get("refusal") is True
        or record.scores.get("user_feedback") == 0.0
    )


def judge(record: TraceRecord, *, seed: int = 0, scenario: Scenario = DEFAULT_SCENARIO) -> dict[str, ScoreValue]:
    """The simulated LLM judge: `correct` (bool), `quality` (1..5), `verdict` (pass/minor/fail)."""
    u1, u2 = _uniforms(record.id, seed)
    intent = str(record.metadata.get("intent", ""))
    spec = scenario.slices.get(intent)
    p = 0.85 if spec is None else (spec.p_correct_failed if is_failure(record) else spec.p_correct)
    correct = u1 < p
    # quality is centred higher for correct answers; a deterministic spread from u2
    quality = (4.2 if correct else 2.1) + (u2 - 0.5) * 1.6
    quality = round(min(5.0, max(1.0, quality)), 3)
    verdict = "pass" if correct and quality >= 3.5 else ("minor" if correct else "fail")
    return {"correct": correct, "quality": quality, "verdict": verdict}


def human_label(record: TraceRecord, *, seed: int = 0, scenario: Scenario = DEFAULT_SCENARIO) -> bool:
    """The simulated human reviewer's `correct`: stricter than the judge (of the answers the
    judge passes, humans mark wrong half of the failures and 5% of the rest)."""
    correct = bool(judge(record, seed=seed, scenario=scenario)["correct"])
    if correct:
        return _uniforms(record.id, seed + 104729)[0] >= (0.5 if is_failure(record) else 0.05)
    return correct


def population_truth(records: Iterable[TraceRecord], metric: str, *, seed: int = 0) -> float | dict[str, float]:
    """The judge's mean over every record: a rate for `correct`, a mean for `quality`,
    the share of each label for `verdict`."""
    total = 0
    acc = 0.0
    labels: dict[str, int] = {}
    for record in records:
        value = judge(record, seed=seed)[metric]
        total += 1
        if isinstance(value, str):
            labels[value] = labels.get(value, 0) + 1
        else:
            acc += float(value)
    if total == 0:
        raise ValueError("no records")
    if labels:
        return {label: count / total for label, count in sorted(labels.items())}
    return acc / total


def _uniforms(trace_id: str, seed: int) -> tuple[float, float]:
    digest = hashlib.blake2b(f"{seed}:{trace_id}".encode(), digest_size=16).digest()
    a = int.from_bytes(digest[:8], "little")
    b = int.from_bytes(digest[8:], "little")
    return a / 2**64, b / 2**64


def default_day(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Yesterday in UTC, `[00:00, 24:00)`: the day the demo simulates."""
    now = now or datetime.now(UTC)
    end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=1), end


__all__ = [
    "DEFAULT_SCENARIO",
    "JUDGE_METRICS",
    "Scenario",
    "Slice",
    "default_day",
    "generate_traces",
    "human_label",
    "is_failure",
    "judge",
    "population_truth",
]

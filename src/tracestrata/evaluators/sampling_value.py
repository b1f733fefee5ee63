"""Langfuse's deterministic evaluator sampling, bit for bit: which ids an evaluator judges.

Since 2026-08 a Langfuse evaluator with a sampling rate below 1 judges an id (the
observation id for observation rules, the trace id for trace rules) exactly when

    v(id) = (first 8 bytes of SHA-256("langfuse:evaluation-sampling:v1\\0" + id), big-endian) >> 11
            / 2**53
    judged  iff  rate >= 1,  or  rate > 0 and v(id) < rate

(`worker/src/features/evaluation/deterministicSampling.ts`, which re-exports
`getDeterministicSamplingValue` / `shouldSampleEvaluation` from `@langfuse/shared`;
upstream test vector `"obs-123"` -> 0.6881281372814657). The hash is not salted per
evaluator, and the evaluator's filter applies before it. The top 53 bits convert to a
float exactly, so `v` here equals JavaScript's `Number(hash53) / 2**53` to the last bit.

SHA-256 of distinct ids behaves like independent uniform draws, so the ids an
evaluator judges inside its filter are a Bernoulli(rate) sample: the design
`tracestrata.evaluators.design` builds from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

SAMPLING_DOMAIN = b"langfuse:evaluation-sampling:v1\0"
_BUCKETS = float(2**53)


def sampling_value(target_id: str) -> float:
    """Langfuse's `getDeterministicSamplingValue(target_id)`: a value in [0, 1)."""
    digest = hashlib.sha256(SAMPLING_DOMAIN + target_id.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / _BUCKETS


def sampling_values(target_ids: Sequence[str]) -> np.ndarray:
    """`sampling_value` of every id, as a float64 array (equal bit for bit, tested)."""
    if not target_ids:
        return np.zeros(0, dtype=np.float64)
    prefix = hashlib.sha256(SAMPLING_DOMAIN)  # the domain is hashed once, then copied per id
    digests = bytearray()
    for target_id in target_ids:
        h = prefix.copy()
        h.update(target_id.encode("utf-8"))
        digests += h.digest()
    words = np.frombuffer(bytes(digests), dtype=">u8").reshape(len(target_ids), 4)[:, 0]
    return (words >> np.uint64(11)).astype(np.float64) / _BUCKETS


def is_sampled(value: float, rate: float) -> bool:
    """Langfuse's `shouldSampleEvaluation`: judged iff rate >= 1, or rate > 0 and value < rate."""
    if rate >= 1:
        return True
    if rate <= 0:
        return False
    return value < rate


def sampled_mask(values: np.ndarray, rate: float) -> np.ndarray:
    """`is_sampled` over an array of sampling values."""
    if rate >= 1:
        return np.ones(len(values), dtype=bool)
    if rate <= 0:
        return np.zeros(len(values), dtype=bool)
    return np.asarray(values < rate, dtype=bool)


__all__ = ["SAMPLING_DOMAIN", "is_sampled", "sampled_mask", "sampling_value", "sampling_values"]

"""`estimate.weighting_gain`: the forecast `plan` prints of what proxy-weighted sampling buys."""

import numpy as np
import pytest

from tracestrata.estimate.estimators import ScoredFrame
from tracestrata.estimate.weighting_gain import weighting_gain


def frame(n=400, big_n=20_000, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.random(n)
    code = np.zeros(n, dtype=np.intp)
    return ScoredFrame(tuple(map(str, range(n))), ("c",), code, y, np.array([float(big_n)]),
                       np.array([float(n)]), np.full(n, big_n / n)), rng


def test_a_size_that_tracks_the_residual_narrows_and_a_constant_one_does_not():
    f, rng = frame()
    sure = rng.random(len(f.y)) < 0.85
    residual = np.where(sure, rng.normal(0, 0.05, len(f.y)), rng.normal(0, 0.5, len(f.y)))
    informative = weighting_gain(f, residual, np.where(sure, 0.05, 0.5))
    assert informative.ratio < 0.75 and informative.judged == 400
    constant = weighting_gain(f, residual, np.full(len(f.y), 0.3))
    assert constant.ratio == pytest.approx(1.0, abs=0.01)
    unrelated = weighting_gain(f, residual, rng.permutation(np.where(sure, 0.05, 0.5)))
    assert unrelated.ratio > 1.1

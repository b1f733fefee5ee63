"""Spark draws the files path's sample under a weighted policy (`[sampling] weight`): same ids, pi, sizes."""

from pathlib import Path

import pytest

from builders import weighted_traffic, write_jsonl
from click.testing import CliRunner
from identical import assert_identical_samples

from tracestrata.cli.main import cli
from tracestrata.sampling.manifest import write_sample_dir
from tracestrata.policy.parse import load_policy

WEIGHTED = Path(__file__).resolve().parents[2] / "examples" / "policies" / "weighted.toml"


@pytest.mark.parametrize("expression", [False, True], ids=["uncertainty", "expression"])
def test_spark_draws_the_same_weighted_sample(tmp_path, spark, expression):
    from tracestrata.spark import sample_dataframe

    path = WEIGHTED
    if expression:  # the weight as an expression of the proxy (`sampling.weight_expression`)
        path = tmp_path / "expression.toml"
        path.write_text(WEIGHTED.read_text().replace('"proxy_uncertainty:scores.heuristic"',
                                                     '"expr: sqrt(scores.heuristic * (1 - scores.heuristic)) + 0.1"'))
    traces = write_jsonl(tmp_path / "traces.jsonl", weighted_traffic())
    args = ["sample", "--source", f"jsonl:{traces}", "--policy", str(path), "--out", str(tmp_path / "files"),
            "--state", str(tmp_path / "boosts.sqlite")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    policy = load_policy(path)
    assert policy.weight.expression is not None or not expression
    for parts in (1, 3):
        df = spark.read.json(str(traces)).repartition(parts)
        sampled = sample_dataframe(df, policy, None)
        out = tmp_path / f"spark-{parts}"
        write_sample_dir(out, sampled, policy=policy, source="spark", window=None, counts={"bad_lines": 0})
        common = assert_identical_samples(tmp_path / "files", out, records=True)
        assert len({unit[7] for unit in common.units.values()}) > 50  # unequal pi: the weighting took effect

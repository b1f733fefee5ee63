"""The error reported is the first in source order, although the source is read a batch ahead
of the sketch (`hashed_batches`): a value the sketch refuses in one batch comes before a
malformed line in the next."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tracestrata.cli.main import main
from tracestrata.errors import InputError
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.record_batches import RecordBatch, record_batches
from tracestrata.sampling.sketch import Sketch
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)
POLICY = parse_policy(
    {"seed": "order", "strata": [{"field": "metadata.intent"}], "targets": {"default": 5},
     "proxy": [{"field": "scores.heuristic"}]},
    source="test",
)


def _batches(bad_proxy_in_first: bool) -> Iterator[RecordBatch]:
    records = list(generate_traces(200, start=T0, end=T0 + timedelta(hours=1), seed=3))
    first = record_batches(records[:100], POLICY.fields())
    batch = next(first)
    if bad_proxy_in_first:
        batch.columns["scores.heuristic"][7] = "high"  # type: ignore[index]
    yield batch
    raise InputError("not valid JSON", path="traces.jsonl", line=101)


def test_an_error_in_a_batch_is_reported_before_the_sources_error_in_the_next():
    with pytest.raises(InputError, match="proxy value"):
        Sketch(POLICY).add_column_batches(_batches(bad_proxy_in_first=True))


def test_the_sources_error_is_still_raised_after_the_batches_before_it():
    sketch = Sketch(POLICY)
    with pytest.raises(InputError, match="traces.jsonl:101"):
        sketch.add_column_batches(_batches(bad_proxy_in_first=False))
    assert sketch.population == 100  # the batch before the failure was sketched


def test_sample_reports_the_first_bad_line_in_file_order(tmp_path, capsys):
    """As a user sees it: a refused proxy value on line 10, a malformed line in the next batch."""
    lines = [orjson.dumps(r.to_json()) for r in generate_traces(20_000, start=T0, end=T0 + timedelta(hours=1), seed=4)]
    row = orjson.loads(lines[9])
    row["scores"] = {"heuristic": "high"}
    lines[9] = orjson.dumps(row)
    lines[14_000] = b'{"id": "x", not json'
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    policy = tmp_path / "p.toml"
    policy.write_text('seed = "s"\n[[strata]]\nfield = "metadata.intent"\n[targets]\ndefault = 5\n'
                      '[[proxy]]\nfield = "scores.heuristic"\n')
    code = main(["sample", "--source", f"jsonl:{tmp_path / 't.jsonl'}", "--policy", str(policy),
                 "--out", str(tmp_path / "out"), "--jobs", "1"])
    assert code == 2
    assert "proxy value" in capsys.readouterr().err  # not the malformed line 14001 of the next batch, read ahead

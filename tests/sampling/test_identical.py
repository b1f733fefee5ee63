"""The "identical sample" helper the engine paths are checked with: it sees every difference that matters."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import write_jsonl
from identical import assert_identical_samples

from tracestrata.connectors.files.source import FilesTraceSource
from tracestrata.sampling.manifest import write_sample_dir
from tracestrata.policy.parse import load_policy
from tracestrata.sampling.samplers import sample_column_batches, sample_records
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Path(__file__).resolve().parents[2] / "examples" / "policies" / "crossed.toml"


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("identical")
    records = list(generate_traces(3000, start=T0, end=T0 + timedelta(days=1), seed=3))
    write_jsonl(folder / "t.jsonl", records)
    policy = load_policy(POLICY)
    by_records = sample_records(records, policy)
    source = FilesTraceSource(folder / "t.jsonl")
    by_columns = sample_column_batches(source.iter_column_batches(None, policy.fields()), policy)
    return policy, by_records, by_columns, folder


def test_two_paths_that_agree_pass_as_results_and_as_dirs(samples):
    policy, by_records, by_columns, folder = samples
    assert_identical_samples(by_records, by_columns, records=True)
    write_sample_dir(folder / "a", by_records, policy=policy, source="jsonl:a", window=None)
    write_sample_dir(folder / "b", by_columns, policy=policy, source="parquet:b", window=None)
    assert_identical_samples(folder / "a", folder / "b", records=True)
    assert_identical_samples(by_records, folder / "b")


def test_a_changed_probability_cell_or_id_fails(samples):
    _, by_records, by_columns, _ = samples
    first = by_columns.selected[0]
    changed = replace(by_columns, selected=[replace(first, inclusion_probability=0.5), *by_columns.selected[1:]])
    with pytest.raises(AssertionError, match="trace"):
        assert_identical_samples(by_records, changed)
    dropped = replace(by_columns, selected=by_columns.selected[1:])
    with pytest.raises(AssertionError, match="selected ids differ"):
        assert_identical_samples(by_records, dropped)
    cell = by_columns.cells[0]
    recounted = replace(by_columns, cells=[replace(cell, population=cell.population + 1), *by_columns.cells[1:]])
    with pytest.raises(AssertionError, match="cells"):
        assert_identical_samples(by_records, recounted)

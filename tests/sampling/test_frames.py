"""Sampling a DataFrame or an Arrow table gives the sample of the same traces as records."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tracestrata.errors import InputError
from tracestrata.columns import DictColumn, StringColumn
from tracestrata.sampling.frames import (
    as_column,
    frame_columns,
    sample_frame,
    selected_frame,
)
from tracestrata.sampling.manifest import DESIGN_FIELDS
from tracestrata.policy.parse import load_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "examples" / "policies" / "crossed.toml")
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def records():
    return list(generate_traces(6000, start=START, end=END, seed=11))


@pytest.fixture(scope="module")
def expected(records):
    result = sample_records(records, POLICY)
    return [(s.record.id, s.cell, s.signals, s.inclusion_probability) for s in result.selected], result.cells


@pytest.fixture(scope="module")
def flat(records):
    return pd.json_normalize([r.to_json() for r in records])


def summary(result):
    return [(s.record.id, s.cell, s.signals, s.inclusion_probability) for s in result.selected], result.cells


def strings_as(frame, dtype):
    return frame.assign(**{c: frame[c].astype(dtype) for c in ("id", "metadata.intent", "status")})


@pytest.mark.parametrize("dtype", ["str", "category", "object", "string[pyarrow]", "string[python]"])
def test_pandas_string_dtypes_give_the_record_sample(flat, expected, dtype):
    assert summary(sample_frame(strings_as(flat, dtype), POLICY)) == expected


def test_string_columns_are_read_in_place(flat):
    ids, columns = frame_columns(strings_as(flat, "str"), POLICY.fields())
    assert isinstance(ids, StringColumn) and isinstance(columns["metadata.intent"], StringColumn)
    _, columns = frame_columns(strings_as(flat, "category"), POLICY.fields())
    assert isinstance(columns["status"], DictColumn)


def test_arrow_tables_in_chunks_sliced_and_dictionary_encoded_give_the_record_sample(flat, expected):
    table = pa.Table.from_pandas(strings_as(flat, "str"), preserve_index=False)
    assert summary(sample_frame(table, POLICY)) == expected
    chunked = pa.concat_tables([table.slice(0, 1000), table.slice(1000, 2500), table.slice(3500)])
    assert chunked.column("id").num_chunks == 3
    assert summary(sample_frame(chunked, POLICY)) == expected
    encoded = table.set_column(
        table.column_names.index("metadata.intent"),
        "metadata.intent",
        table.column("metadata.intent").dictionary_encode(),
    )
    assert summary(sample_frame(encoded, POLICY)) == expected


def test_nullable_extension_dtypes(flat, expected):
    nullable = flat.assign(
        **{
            "metadata.refusal": flat["metadata.refusal"].astype("boolean"),
            "scores.user_feedback": flat["scores.user_feedback"].astype("Float64"),
            "latency_ms": flat["latency_ms"].astype("Float64"),
        }
    )
    assert summary(sample_frame(nullable, POLICY)) == expected


def test_sliced_arrow_strings_with_nulls():
    array = pa.array(["x", None, "yy", "", None, "zzz"], type=pa.string()).slice(1, 4)
    column = as_column(array)
    assert isinstance(column, StringColumn)
    assert column.tolist() == [None, "yy", "", None]
    large = as_column(pa.array(["a", None], type=pa.large_string()))
    assert large.tolist() == ["a", None]
    assert as_column(pa.array([True, None])).tolist() == [True, None]
    assert as_column(pa.array([1, None])).tolist()[0] == 1.0 and np.isnan(as_column(pa.array([1, None]))[1])


def test_missing_column_and_missing_ids_are_one_line_errors(flat):
    with pytest.raises(InputError, match=r"no column 'metadata.intent' \(the policy's field"):
        sample_frame(flat.drop(columns=["metadata.intent"]), POLICY)
    renamed = flat.rename(columns={"metadata.intent": "intent", "id": "trace_id"})
    result = sample_frame(renamed, POLICY, id_column="trace_id", rename={"metadata.intent": "intent"})
    assert result.selected
    with pytest.raises(InputError, match="row 1: the trace id is missing"):
        sample_frame(flat.assign(id=["a", None, *flat["id"][2:]]).astype({"id": "str"}), POLICY)
    with pytest.raises(InputError, match="row 0: expected the trace id"):
        sample_frame(flat.assign(id=range(len(flat))), POLICY)


def test_selected_frame(flat):
    result = sample_frame(flat, POLICY)
    picked = selected_frame(result)
    assert len(picked) == len(result.selected)
    assert list(picked.columns) == ["id", *DESIGN_FIELDS]
    first = result.selected[0]
    assert picked.iloc[0]["kind"] == first.kind.value and picked.iloc[0]["values"] == first.values
    assert (picked["weight"] * picked["inclusion_probability"]).round(12).eq(1).all()
    assert set(picked["id"]) <= set(flat["id"])


def test_selected_records_are_rebuilt_from_the_row(records, flat):
    by_id = {r.id: r for r in records}
    for given in (flat, pa.Table.from_pandas(flat, preserve_index=False)):
        result = sample_frame(given, POLICY, full_records=True)
        assert [s.record for s in result.selected] == [by_id[s.record.id] for s in result.selected]
        assert summary(result) == summary(sample_frame(given, POLICY))
    bare = sample_frame(flat[["id", *POLICY.fields()]], POLICY, full_records=True)  # no timestamp: the epoch
    assert {s.record.timestamp.year for s in bare.selected} == {1970}
    assert bare.selected[0].record.metadata["intent"] == by_id[bare.selected[0].record.id].metadata["intent"]


def test_a_bad_value_in_a_selected_row_names_the_row(flat):
    broken = flat.assign(status=["maybe"] * len(flat))
    policy = load_policy(ROOT / "examples" / "policies" / "basic.toml")
    with pytest.raises(InputError, match=r"^row \d+: status: expected 'ok' or 'error'"):
        sample_frame(broken, policy, full_records=True)

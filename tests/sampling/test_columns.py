"""Buffer columns: every operation equals the same values held in a Python list."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracestrata import columns as columns_module
from tracestrata.columns import DictColumn, StringColumn, factorize
from tracestrata.sampling.hashing import hash_id, hash_ids, hash_key

KEY = hash_key("nightly")
texts = st.text(min_size=0, max_size=30)  # any code point, NUL included
maybe_texts = st.lists(st.none() | texts, max_size=60)
# few distinct values, so factorize sees repeats; lengths straddle the 8-byte words
few = st.lists(st.none() | st.sampled_from(["", "a", "ok", "error", "refund", "compliance", "é✓", "x" * 17]))


@settings(max_examples=80, deadline=None)
@given(maybe_texts)
def test_round_trip_indexing_slicing_and_picking(values):
    column = StringColumn.from_strings(values)
    assert len(column) == len(values)
    assert column.tolist() == values
    assert [column[i] for i in range(len(values))] == values
    assert list(column) == values
    if values:
        assert column[-1] == values[-1]
    middle = column[1:-1]
    assert middle.tolist() == values[1:-1]
    rows = list(range(len(values)))[::-2]
    assert column.pick(rows) == [values[i] for i in rows]
    assert middle.pick(list(range(len(middle)))) == values[1:-1]


@settings(max_examples=80, deadline=None)
@given(st.lists(texts, max_size=40), st.integers(1, 6))
def test_words_are_the_zero_padded_little_endian_words_of_the_utf8_bytes(values, count):
    column = StringColumn.from_strings(["skip", *values])[1:]  # a slice: offsets start inside the buffer
    words = column.words(count)
    for j, word in enumerate(words):
        expected = []
        for v in values:
            padded = v.encode("utf-8") + b"\0" * (8 * count)
            expected.append(int.from_bytes(padded[8 * j : 8 * j + 8], "little"))
        assert word.tolist() == expected


@settings(max_examples=80, deadline=None)
@given(few | maybe_texts)
def test_factorize_is_exact_and_in_order_of_first_appearance(values):
    column = StringColumn.from_strings(values)
    distinct, codes = factorize(column)
    assert [distinct[c] for c in codes.tolist()] == values
    assert distinct == list(dict.fromkeys(values))


@pytest.mark.parametrize(("first", "largest", "rounds"), [(1, 1, 8), (1, 3, 3), (2, 2, 1), (1, 20, 8)])
@settings(max_examples=30, deadline=None)
@given(values=few | maybe_texts)
def test_factorize_stays_exact_when_values_share_table_slots(first, largest, rounds, values):
    patched = pytest.MonkeyPatch()
    # tiny tables: collisions, rows set aside for more rounds, the sort after the last
    patched.setattr(columns_module, "_FIRST_BITS", first)
    patched.setattr(columns_module, "_MAX_BITS", largest)
    patched.setattr(columns_module, "_MAX_ROUNDS", rounds)
    patched.setattr(columns_module, "_ROWS", 7)  # and many chunks
    try:
        distinct, codes = factorize(StringColumn.from_strings(values))
    finally:
        patched.undo()
    assert [distinct[c] for c in codes.tolist()] == values
    assert distinct == list(dict.fromkeys(values))


@settings(max_examples=80, deadline=None)
@given(st.lists(texts, min_size=1, max_size=50))
def test_hash_of_a_string_column_equals_the_reference(ids):
    column = StringColumn.from_strings(["prefix", *ids])[1:]
    assert [int(h) for h in hash_ids(column, KEY)] == [hash_id(i, KEY) for i in ids]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.lists(st.text("0123456789abcdef-", min_size=n, max_size=n), min_size=1)))
def test_hash_of_same_length_ids_in_place_equals_the_reference(ids):
    column = StringColumn.from_strings(ids)
    assert [int(h) for h in hash_ids(column, KEY)] == [hash_id(i, KEY) for i in ids]


def test_hash_in_chunks_equals_the_reference():
    ids = [f"trace-{i}" for i in range(40_000)]  # several chunks, two lengths
    assert hash_ids(StringColumn.from_strings(ids), KEY).tolist() == hash_ids(ids, KEY).tolist()


def test_a_missing_id_is_an_error():
    with pytest.raises(ValueError, match="missing"):
        hash_ids(StringColumn.from_strings(["a", None]), KEY)


def test_string_column_checks_its_buffers():
    data = np.frombuffer(b"abc", dtype=np.uint8)
    with pytest.raises(ValueError, match="offsets"):
        StringColumn(np.array([0, 2, 1]), data)
    with pytest.raises(ValueError, match="offsets"):
        StringColumn(np.array([0, 4]), data)
    with pytest.raises(ValueError, match="offsets"):
        StringColumn(np.array([0.0, 1.0]), data)
    with pytest.raises(ValueError, match="data"):
        StringColumn(np.array([0, 1]), np.array([1, 2]))
    with pytest.raises(ValueError, match="valid"):
        StringColumn(np.array([0, 1]), data, np.array([True, False]))
    with pytest.raises(ValueError, match="contiguous"):
        StringColumn.from_strings(["a", "b"])[::2]
    with pytest.raises(IndexError):
        StringColumn.from_strings(["a"])[1]


def test_dict_column():
    column = DictColumn(np.array([1, -1, 0, 1]), ["a", "b"])
    assert column.tolist() == ["b", None, "a", "b"] == list(column)
    assert column[1] is None and column[3] == "b"
    assert column[2:].tolist() == ["a", "b"]
    assert column.take(np.array([10, 20]), 0).tolist() == [20, 0, 10, 20]
    assert column.take(np.array([True, False]), True).tolist() == [False, True, True, False]
    assert len(DictColumn(np.zeros(0, dtype=np.int8), [])) == 0
    numbers = DictColumn(np.array([0, 1]), np.array([1.5, 2.0]))
    assert numbers.values == [1.5, 2.0] and type(numbers.values[0]) is float
    assert [type(v) for v in DictColumn(np.array([0]), [np.int64(3)]).values] == [int]
    with pytest.raises(ValueError, match="codes"):
        DictColumn(np.array([2]), ["a", "b"])
    with pytest.raises(ValueError, match="codes"):
        DictColumn(np.array([-2]), ["a"])
    with pytest.raises(ValueError, match="codes"):
        DictColumn(np.array(["a"]), ["a"])


def test_encoded_string_column_is_the_dictionary_of_its_values():
    values = ["b", None, "a", "b", ""]
    encoded = StringColumn.from_strings(values).encoded()
    assert encoded.tolist() == values
    assert encoded.values == ["b", None, "a", ""]


def test_factorize_many_distinct_values():
    rng = np.random.default_rng(0)
    names = [f"user-{i:06d}" for i in range(30_000)] + ["ü" * 9, "", "x" * 40]
    values = [names[i] for i in rng.integers(0, len(names), 120_000)]
    distinct, codes = factorize(StringColumn.from_strings(values))
    assert [distinct[c] for c in codes.tolist()] == values
    assert distinct == list(dict.fromkeys(values))


@settings(max_examples=80, deadline=None)
@given(few | maybe_texts, st.integers(min_value=0, max_value=3))
def test_arrow_dictionary_encoding_gives_the_codes_of_factorize(values, offset):
    import pyarrow as pa

    from tracestrata.sampling.frames import arrow_field_column

    for kind in (pa.string(), pa.large_string()):
        array = pa.array(values, type=kind).slice(min(offset, len(values)))
        column = arrow_field_column(array)
        assert isinstance(column, DictColumn)
        distinct, codes = factorize(StringColumn.from_strings(array.to_pylist()))
        assert column.values == distinct
        assert column.codes.tolist() == codes.tolist()

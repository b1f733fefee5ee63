"""Sample directory round trip and malformed-input errors."""

from datetime import UTC, datetime

import orjson
import pytest

from tracestrata.design import CellKind
from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.sampling.manifest import read_sample_dir, write_sample_dir
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces

START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
POLICY = parse_policy(
    {
        "seed": "s",
        "strata": [{"field": "metadata.intent"}],
        "targets": {"default": 20},
        "failure": {"multiplier": 4, "signals": [{"name": "error", "field": "status", "equals": "error"}]},
        "boost": [{"name": "refunds", "field": "metadata.intent", "equals": "refund", "collect": 5}],
    },
    source="inline",
)


@pytest.fixture(scope="module")
def result():
    return sample_records(generate_traces(3000, start=START, end=END, seed=3), POLICY)


def test_round_trip(tmp_path, result):
    window = Window(START, END)
    written = write_sample_dir(tmp_path, result, policy=POLICY, source="jsonl:x.jsonl", window=window)
    manifest, rows = read_sample_dir(tmp_path)
    assert manifest == written
    assert manifest.window == window and manifest.policy_digest == POLICY.digest
    assert manifest.dimensions == ("metadata.intent",)
    assert list(manifest.cells) == result.cells
    assert manifest.boost_collected == {"refunds": 5}
    assert manifest.counts["population"] == 3000 and manifest.counts["sampled"] == len(rows)
    assert [row["id"] for row in rows] == [s.record.id for s in result.selected]
    first = rows[0]
    for key in ("stratum", "values", "cell", "kind", "failure", "signals", "boost", "inclusion_probability", "weight"):
        assert key in first
    assert first["weight"] == pytest.approx(1 / first["inclusion_probability"])
    design = manifest.design(rows)
    assert design == result.design()
    windowed = manifest.design(rows, window="w1")
    assert all(u.cell.startswith("w1#") for u in windowed.units)
    assert {c.kind for c in manifest.cells} == {CellKind.BOOST, CellKind.FAILURE, CellKind.NORMAL}


def test_empty_result_round_trips(tmp_path):
    empty = sample_records([], POLICY)
    write_sample_dir(tmp_path, empty, policy=POLICY, source="jsonl:x", window=None)
    manifest, rows = read_sample_dir(tmp_path)
    assert rows == [] and manifest.cells == () and manifest.counts["population"] == 0


def test_missing_dir_and_bad_lines(tmp_path, result):
    with pytest.raises(InputError, match="manifest.json"):
        read_sample_dir(tmp_path / "nope")
    write_sample_dir(tmp_path, result, policy=POLICY, source="x", window=None)
    sample = tmp_path / "sample.jsonl"
    lines = sample.read_bytes().splitlines()
    sample.write_bytes(b"\n".join([lines[0], b"{oops", *lines[1:]]) + b"\n")
    with pytest.raises(InputError) as info:
        read_sample_dir(tmp_path)
    assert info.value.line == 2 and str(sample) in str(info.value)
    row = orjson.loads(lines[0])
    row["cell"] = "nowhere#normal"
    sample.write_bytes(orjson.dumps(row) + b"\n")
    with pytest.raises(InputError, match="not in manifest"):
        read_sample_dir(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": 99}')
    with pytest.raises(InputError, match="format"):
        read_sample_dir(tmp_path)

"""A repeated trace id is one unit: its first occurrence is kept, repeats are counted once and reported."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from click.testing import CliRunner

from tracestrata.cli.main import cli
from tracestrata.record import TraceRecord
from tracestrata.sampling.dedupe import DuplicateFilter, hashed_batches, sorted_hashes, unique_records
from tracestrata.sampling.hashing import hash_ids, hash_key
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.sketch import Sketch
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)
POLICY = parse_policy(
    {
        "seed": "dedupe",
        "strata": [{"field": "metadata.intent"}],
        "targets": {"default": 20},
        "failure": {"multiplier": 3, "signals": [{"name": "error", "field": "status", "equals": "error"}]},
    },
    source="test",
)
RECORDS = list(generate_traces(3000, start=T0, end=T0 + timedelta(hours=1), seed=5))


def ids(result: Any) -> list[str]:
    return sorted(s.record.id for s in result.selected)


def test_repeats_anywhere_give_the_sample_of_the_distinct_traces() -> None:
    clean = sample_records(RECORDS, POLICY)
    # adjacent, within one batch, across batches, and a whole second copy
    noisy = RECORDS[:10] + RECORDS[:1] + RECORDS[10:] + RECORDS[5:7] + RECORDS
    sketch = Sketch(POLICY)
    for start in range(0, len(noisy), 700):  # many batches
        sketch.add_records(noisy[start : start + 700])
    result = sketch.result()
    assert result.population == clean.population == 3000
    assert result.duplicates == len(noisy) - 3000
    assert ids(result) == ids(clean)
    assert [(c.id, c.population, c.sampled) for c in result.cells] == [
        (c.id, c.population, c.sampled) for c in clean.cells
    ]


def test_the_first_occurrence_wins_even_when_the_repeat_differs() -> None:
    first = RECORDS[0]
    other = dataclasses.replace(first, metadata={**first.metadata, "intent": "a-value-of-its-own"}, status="error")
    result = sample_records([first, other, *RECORDS[1:]], POLICY)
    assert result.population == 3000 and result.duplicates == 1
    assert all(c.stratum != "a-value-of-its-own" for c in result.cells)


def test_repeats_beyond_the_window_are_never_sampled_twice() -> None:
    sketch = Sketch(POLICY, repeat_window=100)  # far repeats: only the candidate check sees them
    for start in range(0, 3000, 500):
        sketch.add_records(RECORDS[start : start + 500])
    sketch.add_records(RECORDS)
    result = sketch.result()
    picked = [s.record.id for s in result.selected]
    assert len(picked) == len(set(picked))
    assert ids(result) == ids(sample_records(RECORDS, POLICY))
    assert result.duplicates > 0 and result.population + result.duplicates == 6000


def test_merged_partitions_drop_a_trace_both_hold() -> None:
    left, right = Sketch(POLICY), Sketch(POLICY)
    left.add_records(RECORDS[:2000])
    right.add_records(RECORDS[1000:])
    merged = left.merge(right).result()
    assert ids(merged) == ids(sample_records(RECORDS, POLICY))
    picked = [s.record.id for s in merged.selected]
    assert len(picked) == len(set(picked))


def test_filter_confirms_equal_hashes_with_ids_and_stays_bounded() -> None:
    seen = DuplicateFilter(window=1000)
    hashes = np.array([5, 5, 7], dtype=np.uint64)
    keep = seen.keep(hashes, ["a", "b", "c"])  # equal hashes, different ids: a collision, both kept
    assert keep is None or keep.tolist() == [True, True, True]
    key = hash_key("x")
    for start in range(0, 100_000, 5000):
        batch = [str(i) for i in range(start, start + 5000)]
        assert seen.keep(hash_ids(batch, key), batch) is None
    assert seen.remembered <= 1000 + 5000


def test_unique_records_keeps_order_and_reports() -> None:
    heard: list[int] = []
    out = list(unique_records([*RECORDS[:5], RECORDS[2], *RECORDS[5:9]], hash_key("k"), on_repeats=heard.append))
    assert [r.id for r in out] == [r.id for r in RECORDS[:9]] and heard == [1]


def write_lines(path: Path, records: list[TraceRecord]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    return path


POLICY_TOML = """seed = "dedupe"
[[strata]]
field = "metadata.intent"
[targets]
default = 20
[failure]
multiplier = 3
[[failure.signals]]
name = "error"
field = "status"
equals = "error"
"""


def test_sample_and_plan_count_a_repeated_line_once(tmp_path: Path) -> None:
    clean = write_lines(tmp_path / "clean.jsonl", RECORDS)
    noisy = write_lines(tmp_path / "noisy.jsonl", [*RECORDS, RECORDS[0], RECORDS[0], RECORDS[100]])
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY_TOML)
    runner = CliRunner()
    for jobs in ("1", "2"):
        a = runner.invoke(cli, ["sample", "--source", f"jsonl:{clean}", "--policy", str(policy), "--out", str(tmp_path / "a"), "--jobs", jobs])
        b = runner.invoke(cli, ["sample", "--source", f"jsonl:{noisy}", "--policy", str(policy), "--out", str(tmp_path / "b"), "--jobs", jobs])
        assert a.exit_code == 0 and b.exit_code == 0, b.output
        assert "of 3,000 traces" in b.output and "dropped 3 repeated trace ids" in b.output
        assert (tmp_path / "a" / "sample.jsonl").read_bytes() == (tmp_path / "b" / "sample.jsonl").read_bytes()
    plan_a = runner.invoke(cli, ["plan", "--source", f"jsonl:{clean}", "--policy", str(policy), "--format", "json"])
    plan_b = runner.invoke(cli, ["plan", "--source", f"jsonl:{noisy}", "--policy", str(policy), "--format", "json"])
    assert plan_a.exit_code == 0 and plan_b.exit_code == 0, plan_b.output
    assert plan_b.stdout == plan_a.stdout
    assert "dropped 3 repeated trace ids" in plan_b.stderr


class _SearchEveryRow:
    """The filter without its slot table: every row searched in every remembered batch."""

    def __init__(self, window: int) -> None:
        self.window, self.recent, self.size = window, [], 0

    def keep(self, hashes: np.ndarray) -> np.ndarray:
        uniq, first = np.unique(hashes, return_index=True)
        mask = np.zeros(len(hashes), dtype=bool)
        mask[first] = True
        held = set().union(*map(set, self.recent)) if self.recent else set()
        old = np.array([int(h) in held for h in hashes.tolist()], dtype=bool)
        mask &= ~old
        fresh = np.array([h for h in uniq.tolist() if h not in held], dtype=np.uint64)
        if len(fresh):
            if self.recent and len(self.recent[-1]) < 4096:
                tail = self.recent.pop()
                self.size -= len(tail)
                fresh = np.union1d(tail, fresh)
            self.recent.append(fresh)
            self.size += len(fresh)
            while self.size > self.window and len(self.recent) > 1:
                self.size -= len(self.recent.pop(0))
        return mask


def test_the_slot_table_never_changes_which_rows_are_repeats() -> None:
    rng = np.random.default_rng(11)
    for window, universe, shift in ((50, 400, 54), (300, 5000, 0), (5000, 20000, 40), (1 << 18, 60000, 20)):
        ours, reference = DuplicateFilter(window), _SearchEveryRow(window)
        for _ in range(40):
            size = int(rng.choice([1, 7, 300, 5000]))
            # few distinct values, in few slots (shift): repeats, shared slots, batches leaving the window
            hashes = rng.integers(0, universe, size, dtype=np.uint64) << np.uint64(shift)
            ids = [str(h) for h in hashes.tolist()]
            expected = reference.keep(hashes)
            got = ours.keep(hashes, ids)
            assert (np.ones(size, dtype=bool) if got is None else got).tolist() == expected.tolist()


def test_hashed_batches_gives_what_the_filter_gives_in_turn() -> None:
    """A batch ahead in a thread: the same hashes and the same first-occurrence masks, in order."""

    @dataclasses.dataclass
    class Batch:
        ids: list[str]

    key = hash_key("ahead")
    batches = [Batch([str(i % 700) for i in range(start, start + 500)]) for start in range(0, 3000, 500)] + [Batch([])]
    in_turn = DuplicateFilter()
    got = list(hashed_batches(iter(batches), key, DuplicateFilter()))
    assert [b for b, _, _ in got] == batches
    for (_, hashes, keep), batch in zip(got, batches, strict=True):
        if not batch.ids:
            assert hashes is None and keep is None
            continue
        expected = hash_ids(batch.ids, key)
        assert hashes is not None and hashes.tolist() == expected.tolist()
        wanted = in_turn.keep(expected, batch.ids)
        assert (keep is None and wanted is None) or (keep is not None and wanted is not None and keep.tolist() == wanted.tolist())


def test_sorted_hashes_is_numpys_sort() -> None:
    """Radix passes on the top bits, then the runs sharing them: np.sort's result on any input."""
    rng = np.random.default_rng(7)
    for trial in range(80):
        size = int(rng.choice([10, 5000, 70_000, 131_072]))
        kind = trial % 4
        if kind == 0:  # hashes
            values = rng.integers(0, 2**64 - 1, size, dtype=np.uint64)
        elif kind == 1:  # every top bit zero: one run
            values = rng.integers(0, 5000, size, dtype=np.uint64)
        elif kind == 2:  # a few runs of shared top bits
            values = rng.integers(0, 2**20, size, dtype=np.uint64) << np.uint64(30)
        else:  # top 32 bits random, middle zero: pairs sharing them now and then
            values = rng.integers(0, 2**64 - 1, size, dtype=np.uint64) & np.uint64(0xFFFFFFFF000000FF)
        assert sorted_hashes(values).tolist() == np.sort(values).tolist()


def test_batch_numbers_past_256_never_hide_a_remembered_hash() -> None:
    """The slots keep batch numbers mod 256: over hundreds of small batches (numbers wrapping, the
    window spanning more than 255 of them) the filter still drops exactly the reference's rows."""
    rng = np.random.default_rng(5)
    for window in (300, 20_000):
        ours, reference = DuplicateFilter(window), _SearchEveryRow(window)
        for _ in range(700):
            size = int(rng.choice([1, 3, 7, 5000]))
            hashes = rng.integers(0, 30_000, size, dtype=np.uint64) << np.uint64(44)
            got = ours.keep(hashes, [str(h) for h in hashes.tolist()])
            assert (np.ones(size, dtype=bool) if got is None else got).tolist() == reference.keep(hashes).tolist()

""""The same sample" between two paths (files, DuckDB, Spark, `--jobs N`): ids, inclusion
probabilities and manifest, compared exactly.

    from identical import assert_identical_samples
    assert_identical_samples(result_a, tmp_path / "run-b")   # a SampleResult or a sample dir

What must agree: every selected id with its cell, stratum, labels, kind, signals, boost,
inclusion probability, weight and (weighted policies) size; every cell with its population and sample size; the
boost counts; the population; the manifest's policy digest, seed, window, dimensions and
counts. What may differ: the `source` name and `created_at` of a manifest, the order of
`sample.jsonl` lines, and (unless `records=True`) the record fields beyond the id, which a
path may not read at all (a Parquet export without `cost`, a Spark row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracestrata.sampling.manifest import read_sample_dir
from tracestrata.sampling.sample_result import SampleResult

_RECORD_ONLY = (
    "stratum", "values", "cell", "kind", "failure", "signals", "boost", "inclusion_probability", "weight", "size",
)  # `size`: the `[sampling] weight` of a weighted policy's trace (absent otherwise)


@dataclass(frozen=True)
class Fingerprint:
    """Everything two identical samples share, as plain comparable data."""

    units: dict[str, tuple[Any, ...]]
    cells: tuple[tuple[Any, ...], ...]
    boost_collected: dict[str, int]
    population: int
    manifest: dict[str, Any] | None
    records: dict[str, dict[str, Any]]


def fingerprint(sample: SampleResult | Path | str) -> Fingerprint:
    """The comparable content of a `SampleResult` or of a sample directory."""
    if isinstance(sample, SampleResult):
        rows = [s.to_json() for s in sample.selected]
        cells = tuple(_cell(c.to_json()) for c in sample.cells)
        return Fingerprint(
            _units(rows), cells, dict(sample.boost_collected), sample.population, None, _records(rows)
        )
    manifest, rows = read_sample_dir(sample)
    data = manifest.to_json()
    kept = {k: data[k] for k in ("policy_digest", "seed", "window", "dimensions", "counts", "format")}
    return Fingerprint(
        _units(rows),
        tuple(_cell(c) for c in data["cells"]),
        dict(manifest.boost_collected),
        int(manifest.counts.get("population", 0)),
        kept,
        _records(rows),
    )


def assert_identical_samples(
    a: SampleResult | Path | str, b: SampleResult | Path | str, *, records: bool = False
) -> Fingerprint:
    """Fail with the first difference found; returns the common fingerprint.

    Two sample dirs also compare their manifests (minus `source` and `created_at`).
    `records=True` also compares every selected record's JSON (minus the design fields).
    """
    fa, fb = fingerprint(a), fingerprint(b)
    missing, extra = sorted(fa.units.keys() - fb.units.keys()), sorted(fb.units.keys() - fa.units.keys())
    assert not missing and not extra, f"selected ids differ: only in a {missing[:5]}, only in b {extra[:5]}"
    for trace_id, unit in fa.units.items():
        assert unit == fb.units[trace_id], f"trace {trace_id!r}: {unit} != {fb.units[trace_id]}"
    assert fa.cells == fb.cells, _first_diff("cells", fa.cells, fb.cells)
    assert fa.boost_collected == fb.boost_collected, f"boost_collected {fa.boost_collected} != {fb.boost_collected}"
    assert fa.population == fb.population, f"population {fa.population} != {fb.population}"
    if fa.manifest is not None and fb.manifest is not None:
        assert fa.manifest == fb.manifest, f"manifest {fa.manifest} != {fb.manifest}"
    if records:
        for trace_id, record in fa.records.items():
            assert record == fb.records[trace_id], f"record {trace_id!r}: {record} != {fb.records[trace_id]}"
    return fa


def _units(rows: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    units = {}
    for row in rows:
        key = str(row["id"])
        assert key not in units, f"trace {key!r} selected twice"
        units[key] = tuple(_plain(row.get(name)) for name in _RECORD_ONLY)
    return units


def _records(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(row["id"]): {k: v for k, v in row.items() if k not in _RECORD_ONLY} for row in rows}


def _cell(cell: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(_plain(cell[k]) for k in sorted(cell))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _first_diff(name: str, a: tuple[Any, ...], b: tuple[Any, ...]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"{name}[{i}]: {x} != {y}"
    return f"{name}: {len(a)} != {len(b)} entries"


__all__ = ["Fingerprint", "assert_identical_samples", "fingerprint"]

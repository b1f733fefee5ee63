"""The sample directory: `sample.jsonl` (the selected traces) and `manifest.json` (the design).

Both files are written atomically (temp file in the same folder, then `os.replace`);
`manifest.json` is written last, so a directory with a manifest is complete.
`read_sample_dir` is what `tracestrata report` and the estimators read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from tracestrata.design import Cell, CellKind, Design, Unit, in_window, proxy_number
from tracestrata.errors import InputError
from tracestrata.io.atomic import atomic_write_bytes, atomic_writer
from tracestrata.io.jsonl import iter_jsonl
from tracestrata.protocols import JSONObject, JSONValue, Window
from tracestrata.record import format_timestamp, parse_timestamp
from tracestrata.policy.model import Policy
from tracestrata.sampling.sample_result import SampleResult
from tracestrata.policy.strata import raw_getter

FORMAT = 1
SAMPLE_FILE = "sample.jsonl"
MANIFEST_FILE = "manifest.json"
DESIGN_FIELDS = (
    "stratum",
    "values",
    "cell",
    "kind",
    "failure",
    "signals",
    "boost",
    "inclusion_probability",
    "weight",
)


@dataclass(frozen=True)
class Manifest:
    policy_digest: str
    seed: str
    source: str
    window: Window | None
    created_at: str
    dimensions: tuple[str, ...]
    cells: tuple[Cell, ...]
    counts: Mapping[str, int] = field(default_factory=dict)
    boost_collected: Mapping[str, int] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> JSONObject:
        return {
            "format": self.format,
            "policy_digest": self.policy_digest,
            "seed": self.seed,
            "source": self.source,
            "window": (
                {"start": format_timestamp(self.window.start), "end": format_timestamp(self.window.end)}
                if self.window is not None
                else None
            ),
            "created_at": self.created_at,
            "dimensions": list(self.dimensions),
            "cells": [cell.to_json() for cell in self.cells],
            "counts": dict(self.counts),
            "boost_collected": dict(self.boost_collected),
        }

    def design(self, rows: Sequence[Mapping[str, JSONValue]], *, window: str | None = None) -> Design:
        """The design of this sample: its cells, and one unit per `sample.jsonl` row.

        `window` prefixes cell ids, for designs that span several windows.
        """
        cells = tuple(
            Cell(in_window(c.id, window), c.stratum, c.values, c.kind, c.population, c.sampled, window, c.proxy)
            for c in self.cells
        )
        fields = list(dict.fromkeys(f for c in self.cells for f in c.proxy))
        getters = [(f, raw_getter(f)) for f in fields]
        units = tuple(
            Unit(
                str(row["id"]),
                in_window(str(row["cell"]), window),
                {"stratum": row["stratum"], **row["values"]},
                {f: proxy_number(get(row), f, row["id"], InputError) for f, get in getters},
                float(row["inclusion_probability"]) if "size" in row else None,  # weighted: its own pi
            )
            for row in rows
        )
        return Design(cells, units)


def write_sample_dir(
    out: Path | str,
    result: SampleResult,
    *,
    policy: Policy,
    source: str,
    window: Window | None,
    counts: Mapping[str, int] | None = None,
    created_at: datetime | None = None,
) -> Manifest:
    """Write `out/sample.jsonl` then `out/manifest.json`; returns the manifest written.

    `counts` adds to the standard counts (e.g. `bad_lines` skipped by the reader).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / SAMPLE_FILE, "wb") as handle:
        for item in result.selected:
            handle.write(orjson.dumps(item.to_json()))
            handle.write(b"\n")
    all_counts = {
        "population": result.population or sum(c.population for c in result.cells),
        "sampled": len(result.selected),
        "strata": len({c.stratum for c in result.cells}),
        "cells": len(result.cells),
        "failures": sum(c.population for c in result.cells if c.kind is CellKind.FAILURE),
        "boosted": sum(c.sampled for c in result.cells if c.kind is CellKind.BOOST),
    }
    all_counts.update(counts or {})
    manifest = Manifest(
        policy_digest=policy.digest,
        seed=policy.seed,
        source=source,
        window=window,
        created_at=format_timestamp(created_at or datetime.now(UTC)),
        dimensions=policy.dimensions,
        cells=tuple(result.cells),
        counts=all_counts,
        boost_collected=dict(result.boost_collected),
    )
    atomic_write_bytes(out / MANIFEST_FILE, orjson.dumps(manifest.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    return manifest


def read_sample_dir(path: Path | str) -> tuple[Manifest, list[JSONObject]]:
    """Read a sample directory; `InputError` naming the file and line on anything malformed."""
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    manifest = _read_manifest(manifest_path)
    sample_path = path / SAMPLE_FILE
    rows: list[JSONObject] = []
    if not sample_path.exists():
        raise InputError("missing: a sample directory has sample.jsonl and manifest.json", path=str(sample_path))
    known = {c.id: c for c in manifest.cells}
    drawn: dict[str, int] = {}
    seen: set[str] = set()
    for number, row in iter_jsonl(sample_path):
        if not isinstance(row, dict):
            raise InputError("expected a JSON object", path=str(sample_path), line=number)
        for key in ("id", *DESIGN_FIELDS):
            if key not in row:
                raise InputError("missing", path=str(sample_path), line=number, field=key)
        if row["cell"] not in known:
            raise InputError(
                f"cell {row['cell']!r} is not in manifest.json", path=str(sample_path), line=number, field="cell"
            )
        _check_row(row, known[row["cell"]], str(sample_path), number, seen)
        drawn[row["cell"]] = drawn.get(row["cell"], 0) + 1
        rows.append(row)
    for cell_id, count in drawn.items():
        if count > known[cell_id].sampled:
            raise InputError(
                f"{count} rows of cell {cell_id!r}, but manifest.json says {known[cell_id].sampled} were sampled",
                path=str(sample_path),
                field="cell",
            )
    return manifest, rows


_MAX_COUNT = 1 << 53  # counts are exact integers; a larger one was not written by tracestrata


def _check_row(row: Mapping[str, JSONValue], cell: Cell, where: str, line: int, seen: set[str]) -> None:
    """A sample row agrees with the design: its id once, its values an object, π = n/N of its cell
    (a weighted policy's row: its own π, weight 1/π and a positive size)."""

    def bad(field_name: str, message: str) -> InputError:
        return InputError(message, path=where, line=line, field=field_name)

    if not isinstance(row["id"], str) or not row["id"]:
        raise bad("id", "expected a non-empty string")
    if row["id"] in seen:
        raise bad("id", f"trace {row['id']!r} is listed twice")
    seen.add(row["id"])
    if not isinstance(row["values"], dict) or not all(isinstance(v, str) for v in row["values"].values()):
        raise bad("values", "expected an object of dimension labels")
    if not isinstance(row["stratum"], str):
        raise bad("stratum", "expected a string")
    p, w = row["inclusion_probability"], row["weight"]
    for name, value in (("inclusion_probability", p), ("weight", w)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad(name, f"expected a finite number, got {value!r}")
    if not 0 < p <= 1:
        raise bad("inclusion_probability", f"expected a number in (0, 1], got {p!r}")
    if "size" in row:  # a weighted policy: each trace its own π = min(1, w τ) (`sampling.weights`), weight 1/π
        size = row["size"]
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or size <= 0:
            raise bad("size", f"expected a positive number, got {size!r}")
        if not math.isclose(w * p, 1.0, rel_tol=1e-9):
            raise bad("weight", f"{w!r} is not 1/{p!r}")
        return
    expected = cell.sampled / cell.population if cell.population else 0.0
    if not math.isclose(p, expected, rel_tol=1e-9):
        raise bad("inclusion_probability", f"{p!r} is not {cell.sampled}/{cell.population} of cell {cell.id!r}")


def _check_cells(cells: object, where: str) -> None:
    """What every manifest written by tracestrata holds: integer counts, 0 <= sampled <= population, unique ids."""
    if not isinstance(cells, list):
        raise InputError("expected a list of cells", path=where, field="cells")
    ids: set[str] = set()  # each id's repr: a list or an object where an id belongs is still one line
    for i, cell in enumerate(cells):
        key = f"cells[{i}]"
        if not isinstance(cell, dict):
            raise InputError("expected an object", path=where, field=key)
        for name in ("population", "sampled"):
            value = cell.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_COUNT:
                raise InputError(f"expected an integer in [0, 2^53], got {value!r}", path=where, field=f"{key}.{name}")
        if cell["sampled"] > cell["population"]:
            raise InputError(
                f"sampled {cell['sampled']} > population {cell['population']}", path=where, field=f"{key}.sampled"
            )
        if not isinstance(cell.get("values") or {}, dict):
            raise InputError("expected an object of dimension labels", path=where, field=f"{key}.values")
        _check_raw(cell, where, key)
        if repr(cell.get("cell")) in ids:
            raise InputError(f"cell {cell.get('cell')!r} is listed twice", path=where, field=f"{key}.cell")
        ids.add(repr(cell.get("cell")))


def _check_raw(cell: Mapping[str, JSONValue], where: str, key: str) -> None:
    """`raw` (the cell's population by its labels before `top` folded them): parts that add up."""
    raw = cell.get("raw")
    if raw is None:
        return
    if not isinstance(raw, list):
        raise InputError("expected a list of parts", path=where, field=f"{key}.raw")
    total = 0
    for j, part in enumerate(raw):
        population = part.get("population") if isinstance(part, dict) else None
        if isinstance(population, bool) or not isinstance(population, int) or not 0 <= population <= _MAX_COUNT:
            raise InputError(f"expected an integer in [0, 2^53], got {population!r}", path=where,
                             field=f"{key}.raw[{j}].population")
        values = part.get("values")
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise InputError("expected an object of dimension labels", path=where, field=f"{key}.raw[{j}].values")
        total += population
    if total != cell["population"]:
        raise InputError(f"parts add up to {total}, not the population {cell['population']}", path=where,
                         field=f"{key}.raw")


def _read_manifest(path: Path) -> Manifest:
    where = str(path)
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError("missing: not a sample directory (no manifest.json)", path=where) from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", path=where) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", path=where)
    if data.get("format") != FORMAT:
        raise InputError(
            f"unsupported manifest format {data.get('format')!r} (expected {FORMAT})", path=where, field="format"
        )
    _check_cells(data.get("cells"), where)
    counts = data.get("counts") or {}
    if not isinstance(counts, dict) or not all(
        not isinstance(v, bool) and isinstance(v, int) and 0 <= v <= _MAX_COUNT for v in counts.values()
    ):
        raise InputError("expected an object of non-negative integer counts", path=where, field="counts")
    try:
        window = data.get("window")
        return Manifest(
            policy_digest=str(data["policy_digest"]),
            seed=str(data["seed"]),
            source=str(data["source"]),
            window=(
                Window(parse_timestamp(window["start"]), parse_timestamp(window["end"])) if window is not None else None
            ),
            created_at=str(data["created_at"]),
            dimensions=tuple(data["dimensions"]),
            cells=tuple(Cell.from_json(cell) for cell in data["cells"]),
            counts=dict(data.get("counts") or {}),
            boost_collected=dict(data.get("boost_collected") or {}),
        )
    except KeyError as exc:
        raise InputError("missing", path=where, field=str(exc.args[0])) from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"malformed manifest: {exc}", path=where) from None


def read_sample_design(path: Path | str) -> Design:
    """A sample directory's design; each unit carries its whole `sample.jsonl` row, so a
    report can group by any record field (`release`, `metadata.x`, ...)."""
    manifest, rows = read_sample_dir(path)
    design = manifest.design(rows)
    units = tuple(
        Unit(unit.trace_id, unit.cell, {**row, **unit.attrs}, unit.proxy, unit.probability)
        for unit, row in zip(design.units, rows, strict=True)
    )
    return Design(design.cells, units)


__all__ = ["MANIFEST_FILE", "SAMPLE_FILE", "Manifest", "read_sample_design", "read_sample_dir", "write_sample_dir"]

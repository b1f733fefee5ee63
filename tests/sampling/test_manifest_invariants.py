"""A tampered sample directory is refused on load with one line (exit 2), never reported on silently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracestrata.cli.main import main
from tracestrata.errors import InputError
from tracestrata.sampling.manifest import read_sample_dir, write_sample_dir
from tracestrata.policy.parse import parse_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces

START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
POLICY = parse_policy({"seed": "s", "strata": [{"field": "metadata.intent"}], "targets": {"default": 10}}, source="p")


def cells(fn: Callable[[list[dict[str, Any]]], None]) -> Callable[[dict[str, Any], list[dict[str, Any]]], None]:
    return lambda manifest, rows: fn(manifest["cells"])


def first_row(**over: Any) -> Callable[[dict[str, Any], list[dict[str, Any]]], None]:
    return lambda manifest, rows: rows[0].update(over)


TAMPER: dict[str, Callable[[dict[str, Any], list[dict[str, Any]]], None]] = {
    "sampled>population": cells(lambda c: c[0].update(sampled=c[0]["population"] + 1)),
    "population-1e30": cells(lambda c: c[0].update(population=1e30)),
    "population-negative": cells(lambda c: c[0].update(population=-3)),
    "duplicated-cell": cells(lambda c: c.append(dict(c[0]))),
    "pi-zero": first_row(inclusion_probability=0),
    "pi-nan": first_row(inclusion_probability="NaN"),
    "pi-not-n-over-N": first_row(inclusion_probability=0.999),
    "values-string": first_row(values="x"),
    "row-twice": lambda manifest, rows: rows.append(dict(rows[0])),
    "counts-float": lambda manifest, rows: manifest["counts"].update(population=1e30),
    "raw-parts-short": cells(lambda c: c[0].update(raw=[{"values": c[0]["values"], "population": c[0]["population"] - 1}])),
    "raw-not-a-list": cells(lambda c: c[0].update(raw="x")),
    "raw-values-numbers": cells(lambda c: c[0].update(raw=[{"values": {"a": 1}, "population": c[0]["population"]}])),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_tampered_sample_dir_is_refused(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = sample_records(generate_traces(600, start=START, end=END, seed=1), POLICY)
    write_sample_dir(tmp_path, result, policy=POLICY, source="x", window=None)
    read_sample_dir(tmp_path)  # the untouched directory reads
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    rows = [orjson.loads(x) for x in (tmp_path / "sample.jsonl").read_bytes().splitlines()]
    TAMPER[case](manifest, rows)
    (tmp_path / "manifest.json").write_bytes(orjson.dumps(manifest))
    (tmp_path / "sample.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    with pytest.raises(InputError):
        read_sample_dir(tmp_path)
    scores = tmp_path / "scores.jsonl"
    scores.write_text("")
    code = main(["report", "--sample", str(tmp_path), "--scores", f"jsonl:{scores}", "--metric", "correct"])
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1

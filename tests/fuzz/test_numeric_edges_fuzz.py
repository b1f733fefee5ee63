"""Issue 22: numbers at the edges (±1e308, 2**64, 400-digit integers, NaN, -0.0, inf) through records,
scores, proxies, policies and CLI options. Every command exits 0, or 2 with one line; never 1. A
report that is printed keeps every interval inside its metric's range."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tracestrata.cli.main import main
from tracestrata.synthetic import generate_traces
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EDGES = ["1e308", "-1.7976931348623157e308", str(2**64), "9" * 400, "NaN", "-0.0", "1e400"]
POLICY = ('seed = "s"\n[targets]\ndefault = 4\n[[strata]]\nfield = "latency_ms"\nedges = [100, 1000]\n'
          '[failure]\nmultiplier = 2\n[[failure.signals]]\nname = "slow"\nfield = "latency_ms"\ngt = 3000\n'
          '[[proxy]]\nfield = "scores.heuristic"\n')


def traces(folder: Path) -> list[dict]:
    records = [r.to_json() for r in generate_traces(60, start=T0, end=T0 + timedelta(hours=1), seed=5, heuristic=True)]
    (folder / "policy.toml").write_text(POLICY)
    return records


def write_jsonl(path: Path, rows: list[dict], raw: dict[int, tuple[str, str]] | None = None) -> None:
    """`raw[i] = (key path, literal)` puts a number literal JSON itself may not spell (NaN, 1e400) into row i."""
    lines = []
    for i, row in enumerate(rows):
        text = json.dumps(row)
        if raw and i in raw:
            key, literal = raw[i]
            text = text.replace(f'"@{key}@"', literal)
        lines.append(text)
    path.write_text("\n".join(lines) + "\n")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    assert code != 1, (argv, out.err)
    if code == 2:
        assert out.err.strip().count("\n") == 0 and out.err.startswith("tracestrata: error:"), (argv, out.err)
    return code, out.out, out.err


@pytest.mark.parametrize("literal", EDGES)
@pytest.mark.parametrize("field", ["latency_ms", "cost", "scores.heuristic", "timestamp", "metadata.n"])
@pytest.mark.parametrize("engine", ["jsonl", "duckdb"])
def test_record_numbers(field, literal, engine, tmp_path, capsys):
    rows = traces(tmp_path)
    head, _, rest = field.partition(".")
    if rest:
        rows[0].setdefault(head, {})[rest] = f"@{field}@"
    else:
        rows[0][head] = f"@{field}@"
    write_jsonl(tmp_path / "t.jsonl", rows, {0: (field, literal)})
    source = f"{engine}:{tmp_path / 't.jsonl'}"
    run(capsys, "plan", "--source", source, "--policy", str(tmp_path / "policy.toml"))
    code, _, _ = run(capsys, "sample", "--source", source, "--policy", str(tmp_path / "policy.toml"), "--out", str(tmp_path / "s"))
    if code == 0:
        scores = tmp_path / "scores.jsonl"
        ids = [json.loads(line)["id"] for line in (tmp_path / "s" / "sample.jsonl").read_text().splitlines()]
        scores.write_text("".join(json.dumps({"trace_id": t, "name": "correct", "value": i % 2 == 0}) + "\n" for i, t in enumerate(ids)))
        code, out, _ = run(capsys, "report", "--sample", str(tmp_path / "s"), "--scores", f"jsonl:{scores}", "--metric", "correct",
                           "--proxy", "scores.heuristic", "--format", "json")
        if code == 0:
            assert_within(json.loads(out), 0.0, 1.0)


def assert_within(report: dict, low: float, high: float) -> None:
    for key in ("estimate", "plain"):
        e = report.get(key) or {}
        for bound in ("mean", "ci_low", "ci_high"):
            value = e.get(bound)
            if value is not None:
                assert math.isfinite(value) and low - 1e-9 <= value <= high + 1e-9, (key, bound, value)


@pytest.mark.parametrize("literal", EDGES)
def test_score_numbers(literal, tmp_path, capsys):
    rows = traces(tmp_path)
    write_jsonl(tmp_path / "t.jsonl", rows)
    run(capsys, "sample", "--source", f"jsonl:{tmp_path / 't.jsonl'}", "--policy", str(tmp_path / "policy.toml"), "--out", str(tmp_path / "s"))
    ids = [json.loads(line)["id"] for line in (tmp_path / "s" / "sample.jsonl").read_text().splitlines()]
    lines = [json.dumps({"trace_id": t, "name": "q", "value": float(i % 5)}) for i, t in enumerate(ids)]
    lines[0] = json.dumps({"trace_id": ids[0], "name": "q", "value": "@v@"}).replace('"@v@"', literal)
    (tmp_path / "sc.jsonl").write_text("\n".join(lines) + "\n")
    code, out, _ = run(capsys, "report", "--sample", str(tmp_path / "s"), "--scores", f"jsonl:{tmp_path / 'sc.jsonl'}", "--metric", "q",
                       "--format", "json")
    if code == 0:
        values = [json.loads(line)["value"] for line in lines]
        assert_within(json.loads(out), min(values), max(values))


POLICY_EDGES = [
    ("[targets]\ndefault = {v}\n", "targets.default"),
    ('[targets]\ndefault = 3\nfloor = {v}\n', "targets.floor"),
    ("[targets]\ndefault = 3\n[[strata]]\nfield = \"latency_ms\"\nedges = [{v}]\n", "edges"),
    ("[failure]\nmultiplier = {v}\n[[failure.signals]]\nname = \"e\"\nfield = \"status\"\nequals = \"error\"\n", "multiplier"),
    ("[failure]\n[[failure.signals]]\nname = \"e\"\nfield = \"latency_ms\"\ngt = {v}\n", "gt"),
]
TOML_EDGES = ["1e308", "-1e308", str(2**64), "9" * 400, "nan", "-0.0", "inf", "-inf", "0"]


@pytest.mark.parametrize("literal", TOML_EDGES)
@pytest.mark.parametrize(("template", "what"), POLICY_EDGES, ids=[w for _, w in POLICY_EDGES])
def test_policy_numbers(template, what, literal, tmp_path, capsys):
    rows = traces(tmp_path)
    write_jsonl(tmp_path / "t.jsonl", rows)
    (tmp_path / "p.toml").write_text('seed = "s"\n' + template.format(v=literal))
    run(capsys, "plan", "--source", f"jsonl:{tmp_path / 't.jsonl'}", "--policy", str(tmp_path / "p.toml"))
    run(capsys, "sample", "--source", f"jsonl:{tmp_path / 't.jsonl'}", "--policy", str(tmp_path / "p.toml"), "--out", str(tmp_path / "s"))


OPTION_EDGES = ["nan", "inf", "-inf", "1e308", str(2**64), "9" * 400, "-0.0", "0"]


@pytest.mark.parametrize("literal", OPTION_EDGES)
@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--traces", "10", "--out", "{tmp}/g.jsonl", "--hours", "{v}"],
        ["generate", "--traces", "{v}", "--out", "{tmp}/g.jsonl", "--hours", "1"],
        ["generate", "--traces", "10", "--out", "{tmp}/g.jsonl", "--seed", "{v}"],
        ["plan", "--source", "jsonl:{tmp}/t.jsonl", "--policy", "{tmp}/policy.toml", "--budget", "{v}"],
        ["plan", "--source", "jsonl:{tmp}/t.jsonl", "--policy", "{tmp}/policy.toml", "--half-width", "{v}"],
        ["plan", "--source", "jsonl:{tmp}/t.jsonl", "--policy", "{tmp}/policy.toml", "--rate", "{v}"],
        ["plan", "--source", "jsonl:{tmp}/t.jsonl", "--policy", "{tmp}/policy.toml", "--confidence", "{v}"],
        ["plan", "--source", "jsonl:{tmp}/t.jsonl", "--policy", "{tmp}/policy.toml", "--design-effect", "{v}"],
        ["judge", "--sample", "{tmp}/s", "--out", "{tmp}/j.jsonl", "--coverage", "{v}"],
        ["judge", "--sample", "{tmp}/s", "--out", "{tmp}/j.jsonl", "--seed", "{v}"],
        ["report", "--sample", "{tmp}/s", "--scores", "jsonl:{tmp}/j.jsonl", "--metric", "correct", "--confidence", "{v}"],
    ],
    ids=lambda a: " ".join(a[:1] + [x for x in a if x.startswith("--") and x not in ("--out", "--source", "--policy", "--sample", "--scores", "--metric")][-1:]),
)
def test_cli_option_numbers(argv, literal, tmp_path, capsys):
    rows = traces(tmp_path)
    write_jsonl(tmp_path / "t.jsonl", rows)
    assert main(["sample", "--source", f"jsonl:{tmp_path / 't.jsonl'}", "--policy", str(tmp_path / "policy.toml"), "--out", str(tmp_path / "s")]) == 0
    assert main(["judge", "--sample", str(tmp_path / "s"), "--out", str(tmp_path / "j.jsonl")]) == 0
    capsys.readouterr()
    run(capsys, *[a.replace("{tmp}", str(tmp_path)).replace("{v}", literal) for a in argv])

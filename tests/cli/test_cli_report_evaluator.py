"""`tracestrata report --evaluator NAME`: a Langfuse evaluator's own scores, reported as its sample."""

from __future__ import annotations

import json

import orjson
import pytest
from builders import write_synthetic_day

from tracestrata.cli.main import main
from tracestrata.evaluators.sampling_value import sampling_value
from tracestrata.synthetic import judge

POLICY = """seed = "nightly"

[[strata]]
field = "metadata.intent"
top = 8

[[evaluator]]
name = "correct"
rate = 0.2
hashes = "observation"

[[evaluator.filter]]
field = "metadata.intent"
not_equals = "billing"
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluator")
    traces, records = write_synthetic_day(folder, 4000, seed=5)
    (folder / "policy.toml").write_text(POLICY)
    # what the evaluator wrote: a score on every trace it judged (filter, then the hash of the root observation id)
    judged = [r for r in records if r.metadata["intent"] != "billing" and sampling_value(r.span_id) < 0.2]
    lines = [orjson.dumps({"trace_id": r.id, "name": "correct", "value": judge(r)["correct"]}) for r in judged]
    (folder / "scores.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return folder, traces, records, judged


def args(folder, *extra):
    folder, traces = folder[0], folder[1]
    return ["report", "--evaluator", "correct", "--source", f"jsonl:{traces}", "--policy",
            str(folder / "policy.toml"), "--scores", f"jsonl:{folder / 'scores.jsonl'}", *extra]


def test_json_report_covers_the_filtered_population_and_says_so(folder, capsys):
    _, _, records, judged = folder
    assert main(args(folder, "--format", "json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metric"] == "correct" and data["kind"] == "rate"
    in_filter = sum(r.metadata["intent"] != "billing" for r in records)
    assert data["population"] == in_filter
    assert sum(row["scored"] for row in data["strata"]) == len(judged)
    assert "billing" not in {row["stratum"] for row in data["strata"]}
    codes = {w["code"]: w for w in data["warnings"]}
    assert "scores_outside_sample" not in codes and "unscored_sampled" not in codes
    scope = codes["evaluator_filter"]
    assert scope["filtered_population"] == in_filter and scope["window_population"] == len(records)
    assert scope["not_covered"] == [{"stratum": "billing", "population": len(records) - in_filter}]
    assert "evaluator_starved" in codes  # compliance: 0.5% of the traffic, a few scores at 20%


def test_markdown_names_the_estimand(folder, capsys):
    assert main(args(folder)) == 0
    out = capsys.readouterr().out
    assert out.startswith("## correct") and "not covered at all: 'billing'" in out


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--sample", "x"], "exactly one of --sample DIR, --ledger STATE or --evaluator NAME"),
        (["--evaluator", "other"], "no [[evaluator]] named 'other' (declared: correct)"),
    ],
)
def test_mistakes_are_one_line(folder, capsys, extra, words):
    argv = args(folder)
    if extra[0] == "--evaluator":
        argv[argv.index("--evaluator") + 1] = extra[1]
    else:
        argv += extra
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_evaluator_needs_its_source(folder, capsys):
    argv = args(folder)
    del argv[argv.index("--source"):argv.index("--source") + 2]
    assert main(argv) == 2
    assert "--evaluator needs --source" in capsys.readouterr().err


def test_an_export_read_through_duckdb_gives_the_same_report(folder, capsys):
    argv = args(folder, "--format", "json")
    assert main(argv) == 0
    from_jsonl = json.loads(capsys.readouterr().out)
    argv[argv.index("--source") + 1] = argv[argv.index("--source") + 1].replace("jsonl:", "duckdb:", 1)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == from_jsonl

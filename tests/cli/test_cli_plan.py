from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import policy_toml

from tracestrata.cli.main import main
from tracestrata.errors import ExitCode
from tracestrata.plan.wilson import failure_split, wilson_half_width
from tracestrata.sampling.counting import count_strata
from tracestrata.policy.parse import load_policy, parse_policy
from tracestrata.sampling.sketch import Sketch
from tracestrata.synthetic import generate_traces

POLICY = policy_toml(
    "plan-test", strata=[{"field": "metadata.intent", "top": 5}, {"field": "latency_ms", "edges": [1000, 3000]}]
)
NO_TARGETS = policy_toml(
    "plan-test",
    strata=[{"field": "metadata.intent", "top": 5}, {"field": "latency_ms", "edges": [1000, 3000]}],
    default=None,
)

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("plan")
    traces = root / "traces.jsonl"
    with traces.open("wb") as handle:
        for record in generate_traces(6000, start=START, end=START + timedelta(hours=6), seed=7):
            handle.write(orjson.dumps(record.to_json()) + b"\n")
    policy = root / "policy.toml"
    policy.write_text(POLICY)
    return traces, policy


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def plan_files(capsys: pytest.CaptureFixture[str], traces: Path, policy: Path, *args: str) -> tuple[int, str, str]:
    """`tracestrata plan --source jsonl:TRACES --policy POLICY ARGS...`."""
    return run(capsys, "plan", "--source", f"jsonl:{traces}", "--policy", str(policy), *args)


def test_counts_match_the_sampler(files: tuple[Path, Path]) -> None:
    traces, policy_path = files
    policy = load_policy(policy_path)
    rows = [orjson.loads(line) for line in traces.read_bytes().splitlines()]
    counts = {c.stratum: c for c in count_strata(rows, policy)}
    sketch = Sketch(policy)
    sketch.add_raw(rows)
    result = sketch.result()
    population: dict[str, int] = {}
    failures: dict[str, int] = {}
    for cell in result.cells:
        population[cell.stratum] = population.get(cell.stratum, 0) + cell.population
        if cell.kind.value == "failure":
            failures[cell.stratum] = failures.get(cell.stratum, 0) + cell.population
    assert {k: c.population for k, c in counts.items()} == population
    assert {k: c.failures for k, c in counts.items() if c.failures} == failures
    assert any("(other)" in key for key in counts)  # top = 5 of 7 intents folds two


def test_table(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    traces, policy = files
    code, out, err = plan_files(capsys, traces, policy)
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header == ["stratum", "population", "rate", "target", "sampled", "deff", "half-width", "share"]
    assert "total:" in out and "expected global half-width" in out
    rows = [line.split() for line in out.splitlines()[2:] if line.endswith("%")]
    for row in rows:  # sampled = target / population
        assert row[-4] == f"{100 * int(row[-5].replace(',', '')) / int(row[-7].replace(',', '')):.1f}%"
    total = next(line for line in out.splitlines() if line.startswith("total:"))
    n, big_n = (int(x.replace(",", "")) for x in total.split()[1:4:2])
    assert f"total: {n:,} of {big_n:,} traces, {100 * n / big_n:.1f}% sampled" in total
    assert "deff: design effect of the failure oversampling" in out
    deffs = {float(line.split()[-3]) for line in out.splitlines()[2:] if line.endswith("%")}
    assert max(deffs) > 1.0
    code, out, _ = plan_files(capsys, traces, policy, "--no-design-effect")
    assert code == 0 and "deff: design" not in out
    assert {float(line.split()[-3]) for line in out.splitlines()[2:] if line.endswith("%")} == {1.0}


def test_json_meets_the_goal(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    traces, policy = files
    code, out, _ = plan_files(capsys, traces, policy, "--format", "json", "--half-width", "0.08")
    assert code == 0
    plan = json.loads(out)
    assert sum(s["population"] for s in plan["strata"]) == 6000
    for s in plan["strata"]:
        assert s["target"] <= s["population"]
        assert s["half_width"] <= 0.08
        split = failure_split(s["population"], s["failures"], load_policy(policy).multiplier)
        expected = wilson_half_width(s["target"], s["rate"], population=s["population"], split=split)
        assert s["half_width"] == pytest.approx(expected)
        assert s["design_effect"] == (1.0 if split is None else pytest.approx(split.design_effect(s["target"])))
        assert set(s["values"]) == {"metadata.intent", "latency_ms"}
        assert s["sampling_rate"] == (s["target"] / s["population"] if s["population"] else None)
    assert plan["sampling_rate"] == plan["total"] / plan["population"]


def test_budget_trims_the_long_tail(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    traces, policy = files
    args = ["plan", "--source", f"jsonl:{traces}", "--policy", str(policy), "--format", "json"]
    _, full_out, _ = run(capsys, *args)
    full = {s["stratum"]: s for s in json.loads(full_out)["strata"]}
    budget = sum(s["target"] for s in full.values()) - 150
    code, out, _ = run(capsys, *args, "--budget", str(budget), "--floor", "10")
    assert code == 0
    plan = json.loads(out)
    assert plan["total"] == budget
    trimmed = [s for s in plan["strata"] if s["trimmed"]]
    untouched = [s for s in plan["strata"] if not s["trimmed"]]
    assert trimmed
    # every trimmed stratum is smaller than every untouched one that could have been trimmed
    could = [s for s in untouched if s["target"] > min(10, s["target"]) and s["target"] > 10]
    assert max(s["population"] for s in trimmed) <= min(s["population"] for s in could)
    biggest = max(plan["strata"], key=lambda s: s["population"])
    assert biggest["target"] == full[biggest["stratum"]]["target"]


def test_toml_block_parses_and_loads_as_policy(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    traces, policy_path = files
    code, out, _ = plan_files(capsys, traces, policy_path, "--format", "toml", "--budget", "900")
    assert code == 0
    block = tomllib.loads(out)
    assert set(block) == {"targets"} and isinstance(block["targets"]["default"], int)
    _, json_out, _ = plan_files(capsys, traces, policy_path, "--format", "json", "--budget", "900")
    wanted = {s["stratum"]: s["target"] for s in json.loads(json_out)["strata"]}

    # pasted into the policy (replacing its [targets]), the project's loader gives back every target
    base = NO_TARGETS
    pasted = tmp_path / "pasted.toml"
    pasted.write_text(base + "\n" + out)
    policy = load_policy(pasted)
    assert {key: policy.targets.for_stratum(key) for key in wanted} == wanted
    inline = parse_policy(tomllib.loads(base) | block, source="inline")
    assert {key: inline.targets.for_stratum(key) for key in wanted} == wanted


def test_neyman_and_constant_rate(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    traces, policy = files
    args = ["plan", "--source", f"jsonl:{traces}", "--policy", str(policy), "--format", "json"]
    code, out, _ = run(capsys, *args, "--method", "neyman", "--half-width", "0.02", "--floor", "5")
    assert code == 0
    plan = json.loads(out)
    assert plan["global_half_width"] <= 0.02
    code, out, _ = run(capsys, *args, "--rate", "0.1")
    assert {s["rate"] for s in json.loads(out)["strata"]} == {0.1}
    code, out, _ = run(capsys, *args, "--rate", "0")
    assert {s["rate"] for s in json.loads(out)["strata"]} == {0.5}  # degenerate: the conservative worst case


def test_rate_field(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    traces, policy = files
    args = ["plan", "--source", f"jsonl:{traces}", "--policy", str(policy), "--format", "json"]
    code, out, _ = run(capsys, *args, "--rate-field", "scores.user_feedback")
    assert code == 0
    rates = [s["rate"] for s in json.loads(out)["strata"]]
    assert all(0 < r < 1 for r in rates) and max(rates) > 0.5  # feedback is mostly thumbs-up (1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--budget", "5"], "smaller than the floors"),
        (["--rate-field", "metadata.intent"], "expected a boolean or a number"),
        (["--rate-field", "nonsense.x"], "unknown field"),
        (["--rate", "0.1", "--rate-field", "scores.x"], "not both"),
        (["--half-width", "0"], "half-width"),
    ],
)
def test_user_mistakes_are_one_line(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    traces, policy = files
    code, _, err = plan_files(capsys, traces, policy, *extra)
    assert code == ExitCode.USAGE
    assert message in err and "Traceback" not in err


def test_bad_inputs(tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, policy = files
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "timestamp": "2026-01-01T00:00:00Z"}\n{not json\n')
    code, _, err = run(capsys, "plan", "--source", f"jsonl:{bad}", "--policy", str(policy))
    assert code == ExitCode.USAGE and f"{bad}:2: not valid JSON" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = run(capsys, "plan", "--source", f"jsonl:{empty}", "--policy", str(policy))
    assert code == ExitCode.OK and "no traces" in err  # README: an empty window is 0
    code, _, err = run(capsys, "plan", "--source", f"jsonl:{tmp_path / 'nope.jsonl'}", "--policy", str(policy))
    assert code == ExitCode.USAGE and "no such file" in err
    code, _, err = run(capsys, "plan", "--source", "phoenix:proj", "--policy", str(policy))
    assert code == ExitCode.USAGE


def test_window_and_skip_bad(tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    traces, policy = files
    args = ["plan", "--source", f"jsonl:{traces}", "--policy", str(policy), "--format", "json"]
    code, out, _ = run(capsys, *args, "--since", "2026-03-01T00:00:00Z", "--until", "2026-03-01T03:00:00Z")
    assert code == 0
    population = json.loads(out)["population"]
    assert 2500 < population < 3500  # half of six uniform hours
    code, _, err = run(capsys, *args, "--since", "2026-03-02", "--until", "2026-03-01")
    assert code == ExitCode.USAGE and "--until" in err

    dirty = tmp_path / "dirty.jsonl"
    dirty.write_bytes(traces.read_bytes() + b"{broken\n")
    code, out, err = run(
        capsys, "plan", "--source", f"jsonl:{dirty}", "--policy", str(policy), "--format", "json", "--skip-bad"
    )
    assert code == 0 and json.loads(out)["population"] == 6000
    assert "skipped 1 bad lines" in err


def test_record_path_counts_like_the_raw_path(files: tuple[Path, Path]) -> None:
    from tracestrata.record import TraceRecord

    traces, policy_path = files
    policy = load_policy(policy_path)
    rows = [orjson.loads(line) for line in traces.read_bytes().splitlines()[:1500]]
    records = [TraceRecord.from_json(row) for row in rows]
    assert count_strata(records, policy, raw=False, rate_field="scores.user_feedback") == count_strata(
        rows, policy, rate_field="scores.user_feedback"
    )


def test_policy_without_strata_is_one_stratum(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    traces, _ = files
    flat = tmp_path / "flat.toml"
    flat.write_text('seed = "x"\n')
    code, out, _ = run(
        capsys, "plan", "--source", f"jsonl:{traces}", "--policy", str(flat), "--format", "json", "--rate", "0.2"
    )
    assert code == 0
    strata = json.loads(out)["strata"]
    assert [s["stratum"] for s in strata] == ["(all)"] and strata[0]["population"] == 6000


def test_plan_then_sample_takes_the_planned_targets(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The loop the plan is for: paste its [targets] block into the policy, and `tracestrata sample`
    draws exactly the planned number of traces in every stratum."""
    from tracestrata.sampling.manifest import read_sample_dir

    traces, _ = files
    source = ["--source", f"jsonl:{traces}"]
    base = tmp_path / "base.toml"
    base.write_text(NO_TARGETS)
    code, block, _ = run(capsys, "plan", *source, "--policy", str(base), "--format", "toml", "--budget", "700")
    assert code == 0
    _, plan_out, _ = run(capsys, "plan", *source, "--policy", str(base), "--format", "json", "--budget", "700")
    planned = {s["stratum"]: s["target"] for s in json.loads(plan_out)["strata"]}
    pasted = tmp_path / "pasted.toml"
    pasted.write_text(base.read_text() + "\n" + block)
    code, _, err = run(capsys, "sample", *source, "--policy", str(pasted), "--out", str(tmp_path / "run"))
    assert code == 0, err
    manifest, rows = read_sample_dir(tmp_path / "run")
    sampled: dict[str, int] = {}
    for cell in manifest.cells:
        sampled[cell.stratum] = sampled.get(cell.stratum, 0) + cell.sampled
    assert sampled == planned
    assert len(rows) == sum(planned.values()) == 700


def test_source_columns_count_like_rows(files: tuple[Path, Path]) -> None:
    from tracestrata.connectors.files.source import FilesTraceSource
    from tracestrata.sampling.sources import count_source

    traces, policy_path = files
    policy = load_policy(policy_path)
    source = FilesTraceSource(traces, chunk_bytes=1 << 16)  # several batches
    by_columns = count_source(source, policy, None, rate_field="scores.user_feedback")
    rows = [orjson.loads(line) for line in traces.read_bytes().splitlines()]
    assert by_columns == count_strata(rows, policy, rate_field="scores.user_feedback")


def test_toml_block_with_a_literal_star_in_a_key() -> None:
    from tracestrata.plan.allocation import plan_allocation, StratumInput
    from tracestrata.plan.render import targets_toml

    plan = plan_allocation(
        [StratumInput("a*b", 50, 0.3), StratumInput("axxb", 10**6, 0.05), StratumInput("c", 10**6, 0.05)]
    )
    block = targets_toml(plan, parse_policy({"seed": "s"}, source="x"))
    policy = parse_policy({"seed": "s", **tomllib.loads(block)}, source="x")
    assert {s.stratum: policy.targets.for_stratum(s.stratum) for s in plan.strata} == plan.targets()

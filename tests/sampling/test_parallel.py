"""Sampling in parts, in several processes: the same sample, lines and errors as one pass."""

import dataclasses
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import orjson
import pytest
from builders import write_jsonl
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracestrata.cli.main import cli
from tracestrata.connectors.files import source as files_source
from tracestrata.connectors.files.source import FilesTraceSource, Part
from tracestrata.errors import InputError
from tracestrata.protocols import Window
from tracestrata.sampling.parallel import available_cpus, sample_parts
from tracestrata.policy.parse import load_policy
from tracestrata.sampling.samplers import sample_column_batches
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
POLICY_PATH = str(Path(__file__).resolve().parents[2] / "examples" / "policies" / "crossed.toml")


@pytest.fixture(scope="module")
def records():
    return list(generate_traces(4000, start=T0, end=T1, seed=5))


@pytest.fixture(scope="module")
def policy():
    return load_policy(POLICY_PATH)


def lines_of(source, fields, part=None):
    return [
        (ref[1], trace_id)
        for batch in source.iter_column_batches(None, fields, part=part)
        for trace_id, ref in zip(batch.ids, batch.refs, strict=True)
    ]


def byte_parts(path, cuts):
    size = path.stat().st_size
    edges = sorted({0, size, *(min(size, c) for c in cuts)})
    return [Part(path, a, b) for a, b in pairwise(edges)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.integers(0, 40), min_size=1, max_size=25),
    cuts=st.lists(st.integers(0, 1200), max_size=6),
    chunk=st.integers(1, 64),
    trailing_newline=st.booleans(),
)
def test_parts_hold_every_line_once_with_its_line_number(tmp_path_factory, lengths, cuts, chunk, trailing_newline):
    # lines of varied length (0 = a blank line), cut at arbitrary byte offsets, read in tiny chunks
    lines = [
        orjson.dumps({"id": f"t{i}", "timestamp": "2026-01-01T00:00:00Z", "name": "x" * n}) if n else b""
        for i, n in enumerate(lengths)
    ]
    path = tmp_path_factory.mktemp("parts") / "t.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if trailing_newline else b""))
    source = FilesTraceSource(path, chunk_bytes=chunk)
    whole = lines_of(source, ["name"])
    assert whole == [(i + 1, f"t{i}") for i, n in enumerate(lengths) if n]
    pieces = [line for part in byte_parts(path, cuts) for line in lines_of(source, ["name"], part)]
    assert pieces == whole


def test_partitions_split_large_files_and_keep_file_order(tmp_path, monkeypatch):
    for name, size in (("a.jsonl", 1000), ("b.jsonl", 10), ("c.jsonl", 3000)):
        (tmp_path / name).write_bytes(b"x" * size)
    monkeypatch.setattr(files_source, "PART_BYTES", 500)
    parts = FilesTraceSource(tmp_path).partitions(8)
    assert [p.path.name for p in parts] == ["a.jsonl"] * 2 + ["b.jsonl"] + ["c.jsonl"] * 6
    for name in ("a.jsonl", "c.jsonl"):
        ranges = [(p.start, p.stop) for p in parts if p.path.name == name]
        assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in pairwise(ranges))
    monkeypatch.setattr(files_source, "PART_BYTES", 64 << 20)
    assert len(FilesTraceSource(tmp_path).partitions(8)) == 3  # small files: one part each


def summary(result):
    return [(s.record.id, s.cell, s.inclusion_probability) for s in result.selected], result.cells


@pytest.mark.parametrize("jobs", [2, 3])
def test_the_sample_in_parts_is_the_sample_in_one_pass(tmp_path, records, policy, jobs):
    path = write_jsonl(tmp_path / "t.jsonl", records)
    source = FilesTraceSource(path, chunk_bytes=50_000)
    window = Window(T0 + timedelta(hours=3), T0 + timedelta(hours=20))
    one = sample_column_batches(source.iter_column_batches(window, policy.fields()), policy)
    parts = byte_parts(path, [path.stat().st_size * i // 7 for i in range(1, 7)])
    seen = []
    many = sample_parts(source, policy, window, parts, jobs=jobs, progress=seen.append)
    assert summary(many) == summary(one)
    assert [s.record for s in many.selected] == [s.record for s in one.selected]  # full records, from the parts
    assert sum(seen) == path.stat().st_size


def test_the_first_bad_line_in_file_order_is_reported(tmp_path, records, policy):
    path = write_jsonl(tmp_path / "t.jsonl", records, {3500: b'{"id": 7}', 200: b"not json"})
    parts = byte_parts(path, [path.stat().st_size // 2])
    with pytest.raises(InputError) as caught:
        sample_parts(FilesTraceSource(path), policy, None, parts, jobs=2)
    assert (caught.value.path, caught.value.line) == (str(path), 201)
    lenient = FilesTraceSource(path, skip_bad=True)
    result = sample_parts(lenient, policy, None, parts, jobs=2)
    assert lenient.bad_lines == 2 and lenient.first_bad.line == 201
    assert result.population == len(records)


def test_cli_jobs(tmp_path, records, monkeypatch):
    monkeypatch.setattr(files_source, "PART_BYTES", 1 << 16)  # split this small file
    path = write_jsonl(tmp_path / "t.jsonl", records)
    runner = CliRunner()
    outputs = []
    for jobs in ("1", "3", "auto"):
        out = tmp_path / f"run-{jobs}"
        result = runner.invoke(
            cli, ["sample", "--source", f"jsonl:{path}", "--policy", POLICY_PATH, "--out", str(out), "--jobs", jobs]
        )
        assert result.exit_code == 0, result.output
        outputs.append((out / "sample.jsonl").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    bad = runner.invoke(
        cli, ["sample", "--source", f"jsonl:{path}", "--policy", POLICY_PATH, "--out", "x", "--jobs", "0"]
    )
    assert bad.exit_code == 2 and "--jobs" in bad.output and "Traceback" not in bad.output


def test_available_cpus():
    assert available_cpus() >= 1


def test_counts_in_parts_are_the_counts_in_one_pass(tmp_path, records, policy):
    from tracestrata.sampling.counting import counting_policy, stratum_counts
    from tracestrata.sampling.parallel import sketch_parts
    from tracestrata.sampling.sources import count_source

    path = write_jsonl(tmp_path / "t.jsonl", records, {1234: b"{oops"})
    source = FilesTraceSource(path, skip_bad=True)
    one = count_source(source, policy, None, rate_field="metadata.refusal")
    parts = byte_parts(path, [path.stat().st_size * i // 5 for i in range(1, 5)])
    lenient = FilesTraceSource(path, skip_bad=True)
    merged, _ = sketch_parts(lenient, counting_policy(policy, "metadata.refusal"), None, parts, jobs=3)
    many = stratum_counts(merged, "metadata.refusal")
    assert many == one
    assert lenient.bad_lines == 1 and lenient.first_bad.line == 1235


def test_cli_plan_jobs(tmp_path, records, monkeypatch):
    monkeypatch.setattr(files_source, "PART_BYTES", 1 << 16)
    path = write_jsonl(tmp_path / "t.jsonl", records)
    runner = CliRunner()
    outputs = []
    for jobs in ("1", "3"):
        args = ["plan", "--source", f"jsonl:{path}", "--policy", POLICY_PATH, "--format", "json", "--jobs", jobs]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert outputs[0] == outputs[1]
    bad = runner.invoke(cli, ["plan", "--source", f"jsonl:{path}", "--policy", POLICY_PATH, "--jobs", "x"])
    assert bad.exit_code == 2 and "--jobs" in bad.output


def test_spawned_workers_give_the_same_sample(tmp_path, records, policy, monkeypatch):
    """Where fork is missing (macOS, Windows) the workers are spawned: everything they get must pickle."""
    import multiprocessing

    from tracestrata.sampling import parallel

    monkeypatch.setattr(parallel, "_context", lambda: multiprocessing.get_context("spawn"))
    path = write_jsonl(tmp_path / "t.jsonl", records)
    source = FilesTraceSource(path)
    one = sample_column_batches(source.iter_column_batches(None, policy.fields()), policy)
    parts = byte_parts(path, [path.stat().st_size // 2])
    assert summary(sample_parts(source, policy, None, parts, jobs=2)) == summary(one)


def test_a_folder_with_an_id_repeated_in_another_file_counts_it_once(tmp_path, records, policy):
    """Each process remembers only its own part: a part repeating ids of the parts before it is read
    again after their hashes, so `--jobs` drops the repeats `--jobs 1` drops (issue 25)."""
    from identical import assert_identical_samples

    from tracestrata.sampling.sources import sample_source

    folder = tmp_path / "export"
    folder.mkdir()
    first, later = records[:2500], records[2500:]
    repeats = [dataclasses.replace(r, status="error") if i % 2 else r for i, r in enumerate(records[:900:3])]
    write_jsonl(folder / "a.jsonl", first)
    write_jsonl(folder / "b.jsonl", later[:700] + repeats[:150])
    write_jsonl(folder / "c.jsonl", repeats[150:] + later[700:])  # repeats at the start of a part
    one = sample_source(FilesTraceSource(folder), policy, None, jobs=1)
    assert one.population == len(records) and one.duplicates == len(repeats)
    for jobs in (2, 3):
        many = sample_source(FilesTraceSource(folder), policy, None, jobs=jobs)
        assert many.population == len(records) and many.duplicates == len(repeats)
        assert_identical_samples(many, one, records=True)
    runner = CliRunner()
    for jobs in ("1", "auto"):
        args = ["sample", "--source", f"jsonl:{folder}", "--policy", POLICY_PATH, "--out", str(tmp_path / jobs)]
        result = runner.invoke(cli, [*args, "--jobs", jobs])
        assert result.exit_code == 0, result.output
    assert_identical_samples(tmp_path / "1", tmp_path / "auto", records=True)

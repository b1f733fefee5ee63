"""The judge in the job, SIGKILLed at random moments and rerun, on local files, the Langfuse
contract fake and a real Phoenix, with the LLM judge calling a stub endpoint on 127.0.0.1.

Each killed run is a real `tracestrata sync` or `tracestrata judge --config` process killed
from outside at a random moment while the stub answers slowly. After the final run every
sampled trace has exactly one score of the judge's name, the judge was called again only
for calls in flight when a process died (the stub counts every call), and the report is
the one an uninterrupted run writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from builders import sync_config_toml
from fixtures.openai_stub import OpenAIStub

from tracestrata.synthetic import generate_traces

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, tzinfo=UTC)
NOW = "2026-11-23T03:30:00Z"
CONCURRENCY = 4
KEY_ENV = "STUB_JUDGE_KEY"


def answer(prompt: str) -> str:
    trace = (prompt.split("trace=", 1)[1].split() or [""])[0] if "trace=" in prompt else ""
    return "incorrect" if int(hashlib.md5(trace.encode()).hexdigest(), 16) % 4 == 0 else "correct"


def judge_file(root: Path, url: str) -> Path:
    path = root / "judge.toml"
    path.write_text(
        f'base_url = "{url}"\nmodel = "stub-judge"\napi_key_env = "{KEY_ENV}"\n'
        'prompt = """trace={trace_id}\nQuestion: {input}\nAnswer: {output}\nCorrect or incorrect?"""\n'
        "[labels]\ncorrect = true\nincorrect = false\n"
    )
    return path


def make(root: Path, source: dict[str, Any], url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    policy = root / "policy.toml"
    policy.write_text((REPO / "examples" / "policies" / "basic.toml").read_text().replace('per = "day"', 'per = "window"'))
    config = root / "sync.toml"
    config.write_text(
        sync_config_toml(
            source,
            str(policy),
            state=str(root / "state.sqlite"),
            window={"every": "1h", "settle": "15m", "start": "2026-11-23T00:00:00Z"},
            sink={"dataset": "judge-{date}"},
            scores={"names": ["correct"], "metric": "correct"},
            report={"dir": str(root / "reports"), "formats": ["json"]},
            retry={"attempts": 4, "total_seconds": 30, "initial": 0.01, "max_wait": 0.05},
            judge={"judge": str(judge_file(root, url)), "name": "correct", "concurrency": CONCURRENCY, "timeout": 10},
        )
    )
    return config


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tracestrata.cli.main", *args, "--now", NOW],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def run_killed(config: Path, env: dict[str, str], rng: random.Random, kills_wanted: int, stub: OpenAIStub) -> int:
    """Alternate `sync` and `judge --config`, each SIGKILLed at a random moment (one in three anywhere in
    the run, the others while judging: a random time after its first judge call); returns the kills."""
    kills = 0
    for attempt in range(kills_wanted * 3):
        args = ["sync", "--config", str(config)] if attempt % 2 == 0 else ["judge", "--config", str(config)]
        calls = stub.calls
        proc = start(args, env)
        if attempt % 3 == 2:
            time.sleep(rng.uniform(0.3, 4.0))
        else:
            waited = time.monotonic()
            while proc.poll() is None and stub.calls == calls and time.monotonic() - waited < 120:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(60)
        stderr = proc.communicate()[1]
        if code != -signal.SIGKILL:
            assert code == 0, stderr
            break  # finished before the kill
        kills += 1
        if kills >= kills_wanted:
            break
    return kills


def finish(config: Path, env: dict[str, str]) -> dict[str, Any]:
    for _ in range(2):  # the second run finds nothing left to judge
        done = start(["sync", "--config", str(config)], env)
        out, err = done.communicate(timeout=300)
        assert done.returncode == 0, err
    report = json.loads((config.parent / "reports" / "report.json").read_text())
    report.pop("context")  # when and from which folder it was made: differs between the two runs by design
    return report


def sampled_ids(config: Path) -> set[str]:
    import sqlite3

    db = sqlite3.connect(config.parent / "state.sqlite")
    try:
        return {row[0] for row in db.execute("SELECT trace_id FROM sampled")}
    finally:
        db.close()


def check(
    name: str,
    clean: tuple[Path, OpenAIStub],
    killed: tuple[Path, OpenAIStub],
    env: dict[str, str],
    scores_of: Callable[[Path], Counter[str]],
    kills_wanted: int,
) -> None:
    clean_config, clean_stub = clean
    expected = finish(clean_config, env)
    config, stub = killed
    kills = run_killed(config, env, random.Random(sum(map(ord, name))), kills_wanted, stub)
    print(f"{name}: {kills} kills, {stub.calls} judge calls before the final run")
    report = finish(config, env)
    sampled = sampled_ids(config)
    assert sampled == sampled_ids(clean_config)
    counts = scores_of(config)
    assert set(counts) == sampled and set(counts.values()) == {1}, "a sampled trace without or with two scores"
    assert set(stub.by_trace) == sampled
    repeated = sum(stub.by_trace.values()) - len(sampled)
    print(f"{name}: {repeated} calls repeated (in flight when a process died)")
    assert repeated <= kills * CONCURRENCY, f"{repeated} repeated calls after {kills} kills"
    assert sum(clean_stub.by_trace.values()) == len(sampled)  # uninterrupted: each trace judged once
    assert report == expected
    assert kills >= 1


def records(n: int = 120) -> list[Any]:
    return list(generate_traces(n, start=T0, end=T0 + timedelta(hours=3), seed=5))


def stubs() -> tuple[OpenAIStub, OpenAIStub]:
    return OpenAIStub(answer, delay=0.05).start(), OpenAIStub(answer, delay=0.05).start()


def base_env() -> dict[str, str]:
    return dict(os.environ, **{KEY_ENV: "-".join(("stub", "judge", "value"))})


@pytest.mark.slow
def test_files_job_judge_killed_and_rerun(tmp_path: Path) -> None:
    traces = tmp_path / "traces.jsonl"
    traces.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records()))
    clean_stub, stub = stubs()
    try:
        def source(root: Path) -> dict[str, Any]:
            return {"type": "files", "path": str(traces), "sink_dir": str(root / "sink"), "scores_path": str(root / "scores")}

        def scores_of(config: Path) -> Counter[str]:
            lines = (config.parent / "scores" / "tracestrata-judge.jsonl").read_text().splitlines()
            return Counter(orjson.loads(line)["trace_id"] for line in lines if '"name":"correct"' in line)

        clean = make(tmp_path / "clean", source(tmp_path / "clean"), clean_stub.url)
        killed = make(tmp_path / "killed", source(tmp_path / "killed"), stub.url)
        check("files", (clean, clean_stub), (killed, stub), base_env(), scores_of, kills_wanted=6)
    finally:
        clean_stub.stop()
        stub.stop()


@pytest.mark.slow
def test_langfuse_job_judge_killed_and_rerun(tmp_path: Path) -> None:
    from fixtures.langfuse_fake import langfuse_fake_server

    traffic = records()
    clean_stub, stub = stubs()
    fakes = [langfuse_fake_server(), langfuse_fake_server()]
    try:
        clean_fake, fake = (next(f) for f in fakes)
        for one in (clean_fake, fake):
            one.add_traces(traffic)
        source = {"type": "langfuse", "rate_limits": {"general": 0, "metrics": 0, "datasets": 0, "annotation_queues": 0}}

        def scores_of(config: Path) -> Counter[str]:
            owner = clean_fake if config.parent.name == "clean" else fake
            return Counter(s["_trace"] for s in owner._scores if s["name"] == "correct")

        clean = make(tmp_path / "clean", source, clean_stub.url)
        killed = make(tmp_path / "killed", source, stub.url)
        # each config's process talks to its own fake, through the environment
        envs = {"clean": {**base_env(), **clean_fake.env()}, "killed": {**base_env(), **fake.env()}}
        expected = finish(clean, envs["clean"])
        kills = run_killed(killed, envs["killed"], random.Random(7), 5, stub)
        report = finish(killed, envs["killed"])
        sampled = sampled_ids(killed)
        counts = scores_of(killed)
        assert set(counts) == sampled and set(counts.values()) == {1}
        assert sum(stub.by_trace.values()) - len(sampled) <= kills * CONCURRENCY
        assert sum(clean_stub.by_trace.values()) == len(sampled) == len(sampled_ids(clean))
        assert report == expected and kills >= 1
        rows = [s for s in fake._scores if s["name"] == "correct"]
        assert all(r["metadata"]["judge"] == "llm:stub-judge" and r["comment"] for r in rows)
        assert {r["dataType"] for r in rows} == {"BOOLEAN"}
        assert not fake.violations and not clean_fake.violations
    finally:
        for gen in fakes:
            gen.close()
        clean_stub.stop()
        stub.stop()


@pytest.mark.slow
def test_phoenix_job_judge_killed_and_rerun(tmp_path: Path) -> None:
    """On a real Phoenix; the uninterrupted run is the same traffic as local files (one trace id
    lives in one Phoenix project only), which samples and judges the same traces."""
    import uuid

    from fixtures.phoenix_server import shared_server

    from tracestrata.demo.phoenix_server import seed_records

    server = shared_server()
    project = f"judge-kill-{uuid.uuid4().hex[:8]}"
    traffic = list(generate_traces(120, start=T0, end=T0 + timedelta(hours=3), seed=uuid.uuid4().int % 10**6))
    seed_records(server.base_url, project, traffic,
                 extra_attributes=lambda r: {"input.value": f"question {r.id}", "output.value": f"answer {r.id}"})
    traces = tmp_path / "traces.jsonl"
    traces.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in traffic))
    clean_stub, stub = stubs()
    try:
        clean = make(tmp_path / "clean", {"type": "files", "path": str(traces), "sink_dir": str(tmp_path / "clean" / "sink"),
                                          "scores_path": str(tmp_path / "clean" / "scores")}, clean_stub.url)
        killed = make(tmp_path / "killed", {"type": "phoenix", "base_url": server.base_url, "project": project}, stub.url)

        def scores_of(config: Path) -> Counter[str]:
            if config.parent.name == "clean":
                lines = (config.parent / "scores" / "tracestrata-judge.jsonl").read_text().splitlines()
                return Counter(orjson.loads(line)["trace_id"] for line in lines)
            import httpx

            counts: Counter[str] = Counter()
            params: dict[str, Any] = {"trace_ids": sorted(sampled_ids(config)), "include_annotation_names": ["correct"],
                                      "limit": 1000}
            body = httpx.get(f"{server.base_url}/v1/projects/{project}/trace_annotations", params=params, timeout=60).json()
            for row in body["data"]:
                counts[row["trace_id"]] += 1
                assert row["annotator_kind"] == "LLM" and row["identifier"] == "llm:stub-judge"
                assert row["result"]["explanation"] and row["metadata"]["judge"] == "llm:stub-judge"
            return counts

        check("phoenix", (clean, clean_stub), (killed, stub), base_env(), scores_of, kills_wanted=5)
    finally:
        clean_stub.stop()
        stub.stop()

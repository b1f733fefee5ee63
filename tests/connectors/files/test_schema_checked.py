"""Every line is checked against the record schema, also the fields the policy does not read:
a malformed value is exit 2 with `file:line: field: message` (or skipped and counted), never exit 0 or 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracestrata.cli.main import main
from tracestrata.errors import InputError
from tracestrata.record import TraceRecord, parse_timestamp

GOOD = {"id": "t1", "timestamp": "2026-12-01T00:00:00Z", "status": "ok", "metadata": {"intent": "tech"}}
POLICY = 'seed = "s"\n[[strata]]\nfield = "metadata.intent"\n'
DEEP = "[" * 5000 + "]" * 5000

CASES = {
    "status": ('"status": "ERROR"', "status"),
    "timestamp-word": ('"timestamp": "yesterday"', "timestamp"),
    "timestamp-huge": ('"timestamp": 1e20', "timestamp"),
    "cost": ('"cost": "abc"', "cost"),
    "latency-inf": ('"latency_ms": 1e400', "latency_ms"),
    "tags": ('"tags": "prod"', "tags"),
    "metadata": ('"metadata": "x"', "metadata"),
    "scores": ('"scores": {"a": [1]}', "scores"),
    "source": ('"source": 5', "source"),
    "deep": (f'"metadata": {{"intent": "a", "x": {DEEP}}}', "nested"),
}


def lines(bad: str) -> str:
    first = '{"id": "bad", "timestamp": "2026-12-01T00:00:00Z", ' + bad + "}"
    rest = [json.dumps({**GOOD, "id": f"t{i}"}) for i in range(20)]
    return "\n".join([*rest[:5], first, *rest[5:]]) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["sample", "plan"])
def test_a_malformed_field_is_exit_2_with_its_line(tmp_path: Path, capsys, case: str, command: str) -> None:
    text, field = CASES[case]
    traces = tmp_path / "t.jsonl"
    traces.write_text(lines(text))
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    args = [command, "--source", f"jsonl:{traces}", "--policy", str(policy)]
    if command == "sample":
        args += ["--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{traces}:6:" in err[0] and field in err[0], err
    assert main([*args, "--skip-bad"]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 bad lines" in captured.out + captured.err


def test_library_checks_match() -> None:
    with pytest.raises(ValueError):
        parse_timestamp(1e20)
    with pytest.raises(InputError, match="finite"):
        TraceRecord.from_json({**GOOD, "latency_ms": float("inf")})

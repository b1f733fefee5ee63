"""`[targets] per = "day"` under hourly sync windows: a day judges about its daily targets, not a census."""

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import policy_data, sync_config_toml

from tracestrata.cli.main import main
from tracestrata.errors import ExitCode
from tracestrata.job.state import State
from tracestrata.policy.model import WindowShare
from tracestrata.policy.parse import load_policy, parse_policy
from tracestrata.sampling.samplers import sample_records
from tracestrata.synthetic import generate_traces

REPO = Path(__file__).resolve().parents[2]
BASIC = REPO / "examples" / "policies" / "basic.toml"
T0 = datetime(2026, 11, 23, tzinfo=UTC)
WINDOW_LINE = re.compile(r"^2026-11-2\dT\S+: (\d+) traces, (\d+) sampled")


@pytest.fixture(scope="module")
def day():
    return list(generate_traces(20_000, start=T0, end=T0 + timedelta(days=1), seed=10))


def sync_day(tmp: Path, records, policy_text: str, capsys, every: str = "1h") -> list[tuple[int, int]]:
    (tmp / "traces").mkdir()
    (tmp / "traces" / "day.jsonl").write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    (tmp / "policy.toml").write_text(policy_text)
    config = tmp / "sync.toml"
    config.write_text(
        sync_config_toml(
            {"type": "files", "path": "traces", "sink_dir": "var/sink"},
            "policy.toml",
            window={"every": every, "settle": "15m", "start": "2026-11-23T00:00:00Z", "max_windows_per_run": 24},
            sink={"dataset": "judge-{date}"},
        )
    )
    code = main(["sync", "--config", str(config), "--now", "2026-11-24T00:30:00Z"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return [(int(m.group(1)), int(m.group(2))) for line in out.out.splitlines() if (m := WINDOW_LINE.match(line))]


def test_hourly_windows_judge_about_the_daily_targets(tmp_path, day, capsys):
    windows = sync_day(tmp_path, day, BASIC.read_text(), capsys)
    traces, sampled = sum(n for n, _ in windows), sum(k for _, k in windows)
    assert len(windows) == 24 and traces == 20_000
    whole_day = len(sample_records(day, load_policy(BASIC)).selected)  # the day as one window
    assert 0.95 * whole_day <= sampled <= 1.15 * whole_day
    assert sampled / traces < 0.08
    with State(tmp_path / "var" / "state.sqlite") as state:
        runs = state.runs()
    assert len(runs) == 24 and all(0 < r.counts["day_share"] < 0.1 for r in runs)
    cells = [c for r in runs for c in r.cells]
    assert all(c["sampled"] >= min(c["population"], 2) for c in cells)  # every cell of every hour has a variance


def test_per_window_targets_make_hourly_windows_a_census(tmp_path, day, capsys):
    per_window = BASIC.read_text().replace('per = "day"', 'per = "window"')
    windows = sync_day(tmp_path, day, per_window, capsys)
    assert sum(k for _, k in windows) / sum(n for n, _ in windows) > 0.8


def test_daily_targets_need_windows_of_at_most_a_day(tmp_path, capsys):
    (tmp_path / "policy.toml").write_text(BASIC.read_text())
    config = tmp_path / "sync.toml"
    config.write_text(
        sync_config_toml(
            {"type": "files", "path": "traces", "sink_dir": "var/sink"},
            "policy.toml",
            window={"every": "7d", "start": "2026-11-23T00:00:00Z"},
        )
    )
    assert main(["sync", "--config", str(config), "--now", "2026-12-24T00:30:00Z"]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tracestrata: error: {config}:10: window.every: ") and "at most 1d long" in err


def test_a_window_takes_its_share_of_the_daily_targets_and_of_the_reviews(day):
    data = policy_data("d", default=200, per="day", signals=("error",))
    data["review"] = {"target": 30}
    policy = parse_policy(data, source="p")
    hour = [r for r in day if r.timestamp < T0 + timedelta(hours=1)]
    result = sample_records(hour, policy.for_window(WindowShare(20_000)))
    share = len(hour) / 20_000
    target, reviews = math.ceil(200 * share), math.ceil(30 * share)
    for stratum in {c.stratum for c in result.cells}:
        population = sum(c.population for c in result.cells if c.stratum == stratum)
        picked = [s for s in result.selected if s.stratum == stratum]
        assert len(picked) == min(target, population)
        assert sum(s.review for s in picked) == min(reviews, len(picked))


def test_sample_of_one_hour_takes_a_24th_of_the_daily_targets(tmp_path, day, capsys):
    traces = tmp_path / "day.jsonl"
    traces.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in day))
    base = ["sample", "--source", f"jsonl:{traces}", "--policy", str(BASIC)]
    hour = ["--since", "2026-11-23T05:00:00Z", "--until", "2026-11-23T06:00:00Z"]
    assert main([*base, "--out", str(tmp_path / "hour"), *hour]) == 0
    assert main([*base, "--out", str(tmp_path / "all")]) == 0
    out = capsys.readouterr().out.splitlines()
    hour_sampled, all_sampled = (int(line.split()[1].replace(",", "")) for line in out)
    assert all_sampled == len(sample_records(day, load_policy(BASIC)).selected)  # the whole input: targets as they are
    assert hour_sampled <= 6 * math.ceil(200 / 24) + math.ceil(400 / 24)  # 7 strata, compliance 400

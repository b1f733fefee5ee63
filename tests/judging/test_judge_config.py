"""`[judge]` in sync.toml: validated strictly, its key variable treated as a secret, its calls and cost in `plan`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tracestrata.plan.run import judge_calls_line
from tracestrata.errors import ConfigError
from tracestrata.job.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
BASE = (
    'state = "s.sqlite"\npolicy = "%s"\n[source]\ntype = "files"\npath = "t.jsonl"\n'
    '[window]\nevery = "1h"\nstart = "2026-11-23T00:00:00Z"\n' % (ROOT / "examples" / "policies" / "basic.toml")
)


def config(tmp_path: Path, judge: str):  # noqa: ANN201
    text = BASE + judge
    return parse_config(tomllib.loads(text), path=tmp_path / "sync.toml", text=text)


def test_plan_shows_calls_and_cost_per_window_and_day(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[judge]\njudge = "m:f"\nname = "correct"\ncost_per_call = 0.01\nmax_calls_per_day = 100\n')
    line = judge_calls_line(cfg, 10)
    assert line == ("judge correct: ~10 calls per window, ~240 per day; cost ~0.10 per window, ~2.40 per day "
                    "(over max_calls_per_day = 100: the rest waits for later runs)")
    assert judge_calls_line(config(tmp_path, ""), 10) is None


def test_judge_table_is_strict_and_its_key_variable_is_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as bad:
        config(tmp_path, '[judge]\njudge = "m:f"\nname = "correct"\nconcurency = 4\n')
    assert bad.value.field == "judge.concurency" and bad.value.line == 12
    cfg = config(tmp_path, '[judge]\njudge = "llm"\nname = "c"\ntimeout = 30\n[judge.llm]\napi_key_env = "MY_JUDGE_KEY"\n')
    assert "MY_JUDGE_KEY" in cfg.secret_env_vars and cfg.judge.timeout == 30.0

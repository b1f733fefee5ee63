from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracestrata.errors import ConfigError
from tracestrata.job.config import load_config

REPO = Path(__file__).resolve().parents[2]
POLICY = """
seed = "t"
[[strata]]
field = "metadata.intent"
[targets]
default = 5
"""


def write(tmp_path: Path, body: str, *, policy: bool = True) -> Path:
    if policy:
        (tmp_path / "policy.toml").write_text(POLICY)
    path = tmp_path / "sync.toml"
    path.write_text(body)
    return path


BASE = """\
state = "state/sync.sqlite"
policy = "policy.toml"

[source]
type = "files"
path = "traces.jsonl"

[window]
every = "1h"
settle = "15m"
start = "2026-11-23T00:00:00Z"
"""


def test_minimal_config_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))
    assert config.state == tmp_path / "state/sync.sqlite"
    assert config.source_type == "files"
    assert config.source_options == {"path": str(tmp_path / "traces.jsonl")}
    assert config.start == datetime(2026, 11, 23, tzinfo=UTC)
    assert config.every == timedelta(hours=1) and config.settle == timedelta(minutes=15)
    assert config.max_windows_per_run == 24
    assert config.dataset == "tracestrata-{date}" and config.queue is None
    assert config.report_period == timedelta(days=7)
    assert config.report_formats == ("json", "md", "html")
    assert config.policy.seed == "t"


def test_full_config_and_inline_policy(tmp_path: Path) -> None:
    body = BASE.replace('policy = "policy.toml"\n', "") + """
max_windows_per_run = 3

[sink]
dataset = "judge-{date}"
queue = "review-{window_start}"
batch_size = 10

[scores]
names = ["correct", "quality"]
metric = "correct"

[report]
dir = "out/reports"
period = "1d"
formats = ["json", "md"]
confidence = 0.9

[retry]
attempts = 3
total_seconds = 5

[policy]
seed = "inline"
[[policy.strata]]
field = "metadata.intent"
[policy.targets]
default = 7
"""
    config = load_config(write(tmp_path, body, policy=False))
    assert config.policy.seed == "inline"
    assert config.max_windows_per_run == 3
    assert config.queue == "review-{window_start}" and config.batch_size == 10
    assert config.score_names == ("correct", "quality") and config.metric == "correct"
    assert config.report_dir == tmp_path / "out/reports" and config.confidence == 0.9
    assert config.retry.attempts == 3 and config.retry.total_seconds == 5.0


@pytest.mark.parametrize(
    ("change", "field", "line", "message"),
    [
        (("every = \"1h\"", "every = \"1h\"\nevry = 2"), "window.evry", 10, "unknown key"),
        (("every = \"1h\"", "every = 3600"), "window.every", 9, "string"),
        (("every = \"1h\"", "every = \"hourly\""), "window.every", 9, "duration"),
        (("state = \"state/sync.sqlite\"\n", ""), "state", None, "missing"),
        (("type = \"files\"\n", ""), "source.type", 4, "missing"),
        (("path = \"traces.jsonl\"", "path = \"traces.jsonl\"\napi_key = \"sk-123\""), "source.api_key", 7, "environment variable"),
        (("path = \"traces.jsonl\"", "path = \"traces.jsonl\"\napi_key_env = \"not a name\""), "source.api_key_env", 7, "environment variable"),
    ],
)
def test_bad_config_names_file_key_and_line(tmp_path: Path, change: tuple[str, str], field: str, line: int | None, message: str) -> None:
    path = write(tmp_path, BASE.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.path == str(path)
    assert err.field == field
    assert err.line == line
    assert message in err.message
    assert "sk-123" not in str(err)


def test_bad_template_placeholder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown placeholder") as info:
        load_config(write(tmp_path, BASE + '\n[sink]\ndataset = "judge-{day}"\n'))
    assert info.value.field == "sink.dataset"


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(write(tmp_path, BASE + "oops = = 1\n"))
    assert info.value.line is not None


def test_policy_errors_come_through(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text('seed = "x"\n[targets]\ndefault = -1\n')
    path = tmp_path / "sync.toml"
    path.write_text(BASE)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "policy.toml" in str(info.value)


def test_missing_credential_env_var_named_not_valued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, BASE.replace('path = "traces.jsonl"', 'path = "t.jsonl"\napi_key_env = "TS_TEST_KEY"')))
    monkeypatch.delenv("TS_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="TS_TEST_KEY is not set") as info:
        config.check_credentials()
    assert info.value.field == "source.api_key_env"
    monkeypatch.setenv("TS_TEST_KEY", "sekrit-value")
    config.check_credentials()
    assert config.secret_env_vars == ("TS_TEST_KEY",)
    assert "sekrit" not in config.source_key()


def test_source_key_hides_url_credentials(tmp_path: Path) -> None:
    password = "pa" + "55"  # made up, and put together here: no file holds a URL with a login in it
    body = BASE.replace('path = "traces.jsonl"', f'base_url = "https://user:{password}@phoenix.example.com/x"')
    key = load_config(write(tmp_path, body)).source_key()
    assert password not in key and "https://***@phoenix.example.com/x" in key


@pytest.mark.parametrize("example", sorted((REPO / "examples" / "sync").glob("*.toml")))
def test_shipped_examples_load(example: Path) -> None:
    load_config(example)


def test_every_config_key_and_exit_code_is_documented() -> None:
    from click.testing import CliRunner

    from tracestrata.cli.main import cli
    from tracestrata.job import config as config_module

    docs = (REPO / "docs" / "sync.md").read_text()
    models = {
        "": config_module.SyncModel,
        "window": config_module.WindowModel,
        "sink": config_module.SinkModel,
        "scores": config_module.ScoresModel,
        "report": config_module.ReportModel,
        "retry": config_module.RetryModel,
    }
    for table, model in models.items():
        if table:
            assert f"[{table}]" in docs
        for key in model.model_fields:
            assert f"\n{key} = " in docs or f"\n[{key}]" in docs or f"\n[[{key}]]" in docs, f"{table}.{key} is not documented in docs/sync.md"
    for placeholder in config_module.TEMPLATE_FIELDS:
        assert f"{{{placeholder}}}" in docs
    help_text = CliRunner().invoke(cli, ["sync", "--help"]).output
    for code in range(6):
        assert f"| {code} |" in docs
        if code != 1:
            assert f"  {code}  " in help_text


def test_inline_policy_error_points_at_the_config_line(tmp_path: Path) -> None:
    body = BASE.replace('policy = "policy.toml"\n', "") + '\n[policy]\nseed = "x"\n[policy.targets]\ndefault = -3\n'
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, body, policy=False))
    err = info.value
    assert (err.path, err.field) == (str(tmp_path / "sync.toml"), "policy.targets.default")
    assert err.line == body.splitlines().index("default = -3") + 1

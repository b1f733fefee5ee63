import json

import pytest

from tracestrata.cli.main import COMMANDS, cli, main
from tracestrata.errors import ConfigError, ExitCode


def test_every_command_has_help(capsys):
    for name in cli.list_commands(None):  # type: ignore[arg-type]
        assert main([name, "--help"]) == 0
        out = capsys.readouterr().out
        assert "Usage:" in out and len(out.splitlines()) > 4, name


def test_the_command_list_says_what_each_command_says_of_itself():
    from tracestrata.cli.main import SUMMARIES

    assert set(SUMMARIES) == set(COMMANDS)
    for name in cli.list_commands(None):  # type: ignore[arg-type]
        assert SUMMARIES[name] == cli.get_command(None, name).get_short_help_str(10_000), name  # type: ignore[arg-type, union-attr]


def test_top_level_help_documents_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for code in ExitCode:
        assert f"  {int(code)}  " in out


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["frobnicate"]) == ExitCode.USAGE


def test_tracestrata_errors_become_one_line(monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise ConfigError("expected an integer", path="policy.toml", line=3, field="targets.default")

    monkeypatch.setattr(cli, "main", boom)
    assert main(["sample"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err == "tracestrata: error: policy.toml:3: targets.default: expected an integer\n"


def test_bugs_become_exit_1_without_traceback(monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(cli, "main", boom)
    assert main(["sample"]) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--debug" in err


def test_generate_and_judge_round_trip(tmp_path, capsys):
    traces = tmp_path / "t.jsonl"
    truth = tmp_path / "truth.json"
    assert main(["generate", "--traces", "300", "--out", str(traces), "--truth", str(truth), "--seed", "2"]) == 0
    assert len(traces.read_text().splitlines()) == 300
    assert 0 < json.loads(truth.read_text())["correct"] < 1
    sample = tmp_path / "s"
    sample.mkdir()
    (sample / "sample.jsonl").write_text("".join(traces.read_text().splitlines(keepends=True)[:50]))
    assert main(["judge", "--sample", str(sample), "--out", str(tmp_path / "scores.jsonl"), "--coverage", "1"]) == 0
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == 150


def test_judge_without_a_sample_is_one_line(tmp_path, capsys):
    assert main(["judge", "--sample", str(tmp_path), "--out", str(tmp_path / "x")]) == ExitCode.USAGE
    assert "no sample.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_modules_expose_command(name):
    import importlib.util

    if importlib.util.find_spec(COMMANDS[name]) is None:
        pytest.skip(f"{name} not built yet")
    assert importlib.import_module(COMMANDS[name]).command.help


def test_a_bad_option_value_is_one_line_not_a_usage_block(capsys):
    assert main(["plan", "--source", "jsonl:x", "--policy", "p.toml", "--half-width", "abc"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--half-width" in err and "plan --help" in err
    assert main(["sample"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--source" in err

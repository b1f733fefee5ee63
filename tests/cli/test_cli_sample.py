"""`tracestrata sample` end to end in-process: outputs, boost state, empty window, one-line errors."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from builders import policy_toml

from tracestrata.cli.main import main
from tracestrata.errors import ExitCode
from tracestrata.job.state import State
from tracestrata.sampling.manifest import read_sample_dir
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = policy_toml(
    "cli",
    default=30,
    signals=("error",),
    boosts=[{"name": "refunds", "field": "metadata.intent", "equals": "refund", "collect": 25}],
)


@pytest.fixture()
def files(tmp_path):
    traces = tmp_path / "traces.jsonl"
    records = list(generate_traces(4000, start=T0, end=T0 + timedelta(days=2), seed=2))
    traces.write_bytes(b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records))
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    return tmp_path, traces, policy


def run(*args):
    return main(["sample", *map(str, args)])


def test_help_teaches_with_an_example(capsys):
    assert run("--help") == 0
    out = capsys.readouterr().out
    assert "Example:" in out and "--skip-bad" in out and "empty sample" in out


def test_writes_sample_dir_and_summary(files, capsys):
    tmp, traces, policy = files
    assert run("--source", f"jsonl:{traces}", "--policy", policy, "--out", tmp / "run") == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("sampled ") and "of 4,000 traces" in out[0]
    manifest, rows = read_sample_dir(tmp / "run")
    assert manifest.counts["population"] == 4000 and manifest.counts["bad_lines"] == 0
    assert manifest.source == f"jsonl:{traces}" and manifest.window is None
    assert len(rows) == manifest.counts["sampled"] > 0
    assert manifest.boost_collected == {"refunds": 25}


def test_without_state_two_runs_into_one_folder_give_the_same_sample(files, capsys):
    """No boost state is kept unless asked for, so a second run does not find the boost spent."""
    tmp, traces, policy = files
    base = ["--source", f"jsonl:{traces}", "--policy", policy]
    assert run(*base, "--out", tmp / "a") == 0
    assert run(*base, "--out", tmp / "b") == 0
    assert run(*base, "--out", tmp / "a") == 0  # the same folder again
    first, second = read_sample_dir(tmp / "a"), read_sample_dir(tmp / "b")
    assert first[0].boost_collected == second[0].boost_collected == {"refunds": 25}
    assert first[1] == second[1] and first[0].cells == second[0].cells
    assert sorted(p.name for p in tmp.iterdir()) == ["a", "b", "policy.toml", "traces.jsonl"]  # no state written


def one_shot_boosts(path):
    """What the one-shot runs kept in a state store: (source and window) -> boost -> collected."""
    with State(path, create=False) as state:
        rows = state.db.execute("SELECT source, name, collected FROM boost").fetchall()
    out: dict = {}
    for source, name, collected in rows:
        out.setdefault(source, {})[name] = collected
    return out


def test_boost_counts_persist_across_windows_but_a_rerun_does_not_count_twice(files, capsys):
    tmp, traces, policy = files
    day1 = ["--since", "2026-01-01", "--until", "2026-01-02"]
    day2 = ["--since", "2026-01-02", "--until", "2026-01-03"]
    base = ["--source", f"jsonl:{traces}", "--policy", policy, "--state", tmp / "boosts.sqlite"]
    assert run(*base, "--out", tmp / "d1", *day1[:2], "--until", "2026-01-01T01:00:00") == 0
    first = one_shot_boosts(tmp / "boosts.sqlite")
    assert len(first) == 1
    taken = sum(first.popitem()[1].values())
    assert 0 < taken < 25
    assert run(*base, "--out", tmp / "d1b", *day1[:2], "--until", "2026-01-01T01:00:00") == 0
    again = read_sample_dir(tmp / "d1b")[1]
    assert [r["id"] for r in again] == [r["id"] for r in read_sample_dir(tmp / "d1")[1]]
    assert run(*base, "--out", tmp / "d2", *day2) == 0
    state = one_shot_boosts(tmp / "boosts.sqlite")
    assert len(state) == 2 and sum(sum(c.values()) for c in state.values()) == 25
    manifest = read_sample_dir(tmp / "d2")[0]
    assert manifest.boost_collected == {"refunds": 25}
    assert manifest.window is not None and manifest.window.start == datetime(2026, 1, 2, tzinfo=UTC)
    # another state path starts from zero
    assert run(*base[:4], "--out", tmp / "d3", "--state", tmp / "elsewhere.sqlite") == 0
    assert (tmp / "elsewhere.sqlite").exists()
    assert read_sample_dir(tmp / "d3")[0].boost_collected == {"refunds": 25}


def test_the_state_of_a_sync_job_keeps_one_shot_boosts_beside_its_own(files, capsys):
    """`--state` is the job's state store: a sync's boost counts and windows are left as they were."""
    tmp, traces, policy = files
    store = tmp / "state.sqlite"
    with State(store) as state:
        state.db.execute("INSERT INTO boost VALUES ('files:x', 'refunds', 7)")
    assert run("--source", f"jsonl:{traces}", "--policy", policy, "--out", tmp / "o", "--state", store) == 0
    assert read_sample_dir(tmp / "o")[0].boost_collected == {"refunds": 25}  # the sync's 7 are its own
    kept = one_shot_boosts(store)
    assert kept.pop("files:x") == {"refunds": 7}
    assert list(kept.values()) == [{"refunds": 25}]


def test_an_old_boost_json_file_is_named_as_no_longer_read(files, capsys):
    tmp, traces, policy = files
    old = tmp / "tracestrata-boost.json"
    old.write_bytes(orjson.dumps({"format": 1, "runs": {"x|-": {"refunds": 25}}}))
    assert run("--source", f"jsonl:{traces}", "--policy", policy, "--out", tmp / "o") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tracestrata: note: {old} is no longer read: boost counts carry across runs only in a state store "
                   "named with --state FILE"]
    assert read_sample_dir(tmp / "o")[0].boost_collected == {"refunds": 25}  # its 25 were not counted
    assert run("--source", f"jsonl:{traces}", "--policy", policy, "--out", tmp / "p", "--state", old) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a JSON file (the old boost counts file?), no longer read" in err[0] and str(old) in err[0]
    assert orjson.loads(old.read_bytes())["runs"] == {"x|-": {"refunds": 25}}  # left as it was


def test_empty_window_is_a_clean_empty_result(files, capsys):
    tmp, traces, policy = files
    code = run("--source", traces, "--policy", policy, "--out", tmp / "e", "--since", "2030-01-01")
    assert code == 0
    assert "no traces in the window" in capsys.readouterr().out
    manifest, rows = read_sample_dir(tmp / "e")
    assert rows == [] and manifest.cells == ()


def test_malformed_line_is_one_error_line_and_skip_bad_continues(files, capsys):
    tmp, traces, policy = files
    lines = traces.read_bytes().splitlines()
    lines.insert(6, b'{"id": "x", "timestamp": ')
    traces.write_bytes(b"\n".join(lines) + b"\n")
    assert run("--source", f"jsonl:{traces}", "--policy", policy, "--out", tmp / "r") == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"tracestrata: error: {traces}:7: not valid JSON") and err.count("\n") == 1
    assert "Traceback" not in err
    assert run("--source", f"jsonl:{traces}", "--policy", policy, "--out", tmp / "r", "--skip-bad") == 0
    assert "skipped 1 bad lines" in capsys.readouterr().out
    assert read_sample_dir(tmp / "r")[0].counts["bad_lines"] == 1


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--policy", "{tmp}/missing.toml"], "missing.toml: no such file"),
        (["--policy", "{tmp}/bad.toml"], "bad.toml:2: bogus: unknown key"),
        (["--source", "phoenix:proj"], "expected one of jsonl:PATH"),
        (["--source", "jsonl:{tmp}/nope.jsonl"], "no such file"),
        (["--since", "2026-01-02", "--until", "2026-01-01"], "must be after --since"),
        (["--since", "not-a-date"], "ISO 8601"),
        (["--out", "{tmp}/bad.toml/run"], "cannot write"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(files, capsys, args, expect):
    tmp, traces, policy = files
    (tmp / "bad.toml").write_text('seed = "x"\nbogus = 1\n')
    options = {"--source": f"jsonl:{traces}", "--policy": str(policy), "--out": str(tmp / "o")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        options[flag] = value.format(tmp=tmp)
    argv = [item for pair in options.items() for item in pair]
    assert run(*argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err

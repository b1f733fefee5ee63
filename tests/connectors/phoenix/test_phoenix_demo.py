"""`tracestrata demo` end to end against the shared real Phoenix (PHOENIX_BASE_URL), small day."""

from __future__ import annotations

import json

import httpx

from tracestrata.cli.main import main

# No `pytest.mark.phoenix` here: arize-phoenix-client ships a pytest plugin that claims
# that marker and turns every marked test into a Phoenix experiment run it uploads.
# These tests are selected by path (tests/connectors/phoenix/).


def test_demo_runs_the_whole_loop_and_prints_where_to_look(phoenix_server, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PHOENIX_BASE_URL", phoenix_server.base_url)
    monkeypatch.delenv("PHOENIX_API_KEY", raising=False)
    code = main(["demo", "--traces", "600", "--target", "20", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "using Phoenix at" in out and "seeding 600 synthetic traces" in out
    assert "reweighted estimate" in out and "naive sample mean" in out and "synthetic truth" in out
    assert "| compliance |" in out
    assert "judge correct (tracestrata-simulator): judged " in out  # the demo judges through the runner
    assert f"{phoenix_server.base_url}/datasets/" in out
    assert "trace_annotations['tracestrata.sampled'].label is not None" in out
    assert "/traces?traceFilterCondition=trace_annotations%5B%27tracestrata.sampled%27%5D.label+is+not+None" in out
    assert (tmp_path / "reports" / "review.md").exists() and "review.md" in out
    assert "playing the reviewers on the" in out and "with the reviewers" in out and "two-phase" in out
    human = json.loads((tmp_path / "reports" / "report-correct_human.json").read_text())
    assert human["estimate"]["method"].startswith("two-phase") and human["review"]["labelled"] == human["review"]["reviewed"]
    assert "correct_human" in httpx.get(f"{phoenix_server.base_url}/v1/annotation_configs/correct_human").text
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    estimate = report["estimate"]
    assert estimate["n_scored"] > 100
    truth = float(out.split("synthetic truth")[1].split("%")[0]) / 100
    assert estimate["ci_low"] <= truth <= estimate["ci_high"]
    assert (tmp_path / "reports" / "report.html").exists()
    # the heuristic annotation was filled on every trace: the proxy-assisted interval, narrower, beside the plain one
    assert "with the proxy" in out and "scores.heuristic on every trace" in out
    plain = report["plain"]
    assert estimate["method"].startswith("difference+") and report["proxy"]["field"] == "scores.heuristic"
    assert plain["ci_low"] <= truth <= plain["ci_high"] and plain["n_scored"] == estimate["n_scored"]
    assert report["proxy"]["lambda"]["(all)"] > 0  # the heuristic tracks `correct`


def test_demo_on_an_auth_server_without_a_key_says_which_variable(phoenix_auth_server, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PHOENIX_BASE_URL", phoenix_auth_server.base_url)
    monkeypatch.delenv("PHOENIX_API_KEY", raising=False)
    code = main(["demo", "--workdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 3
    assert "PHOENIX_API_KEY is not set" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_demo_against_nothing_fails_in_one_line(monkeypatch, tmp_path, capsys):
    from tracestrata.demo.phoenix_server import free_port

    monkeypatch.setenv("PHOENIX_BASE_URL", f"http://127.0.0.1:{free_port()}")
    code = main(["demo", "--workdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 4 and "cannot reach Phoenix" in err and "Traceback" not in err


def test_demo_reruns_on_a_dirty_workdir_and_says_it_reset(monkeypatch, tmp_path, capsys):
    """`tracestrata demo --keep`, then `tracestrata demo` in the same folder: the second stops the kept
    server and starts on an empty Phoenix, and says both."""
    import os

    monkeypatch.delenv("PHOENIX_BASE_URL", raising=False)
    monkeypatch.delenv("PHOENIX_API_KEY", raising=False)
    args = ["demo", "--traces", "300", "--target", "10", "--workdir", str(tmp_path)]
    assert main([*args, "--keep"]) == 0, capsys.readouterr()
    capsys.readouterr()
    pid = json.loads((tmp_path / "phoenix" / "kept-server.json").read_text())["pid"]
    try:
        assert main(args) == 0
        out = capsys.readouterr().out
        assert f"stopping the Phoenix an earlier `demo --keep` left running (pid {pid})" in out
        assert "resetting the demo's Phoenix" in out and "internal error" not in out
        assert "reweighted estimate" in out
    finally:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass


def test_a_backend_refusal_reaches_the_one_line(phoenix_server, monkeypatch, tmp_path, capsys):
    """Seeding the same synthetic ids twice into one Phoenix: its own 4xx text, never 'internal error'."""
    monkeypatch.setenv("PHOENIX_BASE_URL", phoenix_server.base_url)
    monkeypatch.delenv("PHOENIX_API_KEY", raising=False)
    args = ["demo", "--traces", "200", "--target", "10", "--seed", "7", "--workdir", str(tmp_path)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err
    assert "HTTP 400" in err and "duplicate" in err and "rerun with --seed 8" in err

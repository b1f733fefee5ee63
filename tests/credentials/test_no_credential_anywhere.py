"""Issue 22, secrets: every command that can reach a backend, against a backend that echoes the
request (headers and URL) in 400/401/500 bodies and in a non-JSON 200, with credentials in
default and named environment variables, URL logins holding `@`, `/` and `%`, query strings
and Basic auth: no secret, nor its base64 or URL-encoded form, in stdout, stderr, the state
file, reports, sink files or logs."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tracestrata import redaction
from tracestrata.cli.main import main

from echo_server import EchoServer
from credential_forms import forms_of, made_up

NOW = "2026-01-01T03:00:00Z"
STATUSES = (400, 401, 500, 200)
FLAGS = (["-v"], [], ["--log-format", "json"])  # --debug is the group's: see commands()


@dataclass
class Scenario:
    name: str
    source: str  # the [source] table's body, `{host}` filled in
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def scenarios() -> list[Scenario]:
    phx, named = made_up("phx"), made_up("phx")
    pk, sk = made_up("pk-lf"), made_up("sk-lf")
    at_pw = "p@ss" + made_up("")  # `@`, `/` and `%` in passwords
    slash_pw = "pa/ss" + made_up("")
    pct_pw = "pa%ss%2F" + made_up("")
    query_key = made_up("q")
    return [
        Scenario("phoenix-default-env", 'type = "phoenix"\nbase_url = "http://{host}"\nproject = "p"\n',
                 {"PHOENIX_API_KEY": phx}, [phx]),
        Scenario("phoenix-named-env", 'type = "phoenix"\nbase_url = "http://{host}"\nproject = "p"\napi_key_env = "TS_PHX_CRED"\n',
                 {"TS_PHX_CRED": named}, [named]),
        Scenario("phoenix-login-at", 'type = "phoenix"\nbase_url = "http://admin:' + at_pw + '@{host}"\nproject = "p"\n',
                 {}, [at_pw, f"admin:{at_pw}"]),
        Scenario("phoenix-login-slash-in-env", 'type = "phoenix"\nproject = "p"\n',
                 {"PHOENIX_BASE_URL": "http://admin:" + slash_pw + "@{host}"}, [slash_pw, f"admin:{slash_pw}"]),
        Scenario("phoenix-login-percent", 'type = "phoenix"\nbase_url = "http://admin:' + pct_pw + '@{host}"\nproject = "p"\n',
                 {}, [pct_pw, pct_pw.replace("%2F", "/"), f"admin:{pct_pw.replace('%2F', '/')}"]),
        Scenario("phoenix-query-key", 'type = "phoenix"\nbase_url = "http://{host}/?api_key=' + query_key + '"\nproject = "p"\n',
                 {}, [query_key]),
        Scenario("langfuse-basic", 'type = "langfuse"\nbase_url = "http://{host}"\n',
                 {"LANGFUSE_PUBLIC_KEY": pk, "LANGFUSE_SECRET_KEY": sk}, [pk, sk, f"{pk}:{sk}"]),
    ]


def config_text(scenario: Scenario, host: str) -> str:
    return (
        'state = "state.sqlite"\n'
        "[source]\n" + scenario.source.replace("{host}", host) +
        '[window]\nevery = "1h"\nsettle = "0s"\nstart = "2026-01-01T00:00:00Z"\n'
        '[sink]\ndataset = "d-{date}"\n[scores]\nnames = ["correct"]\n'
        '[retry]\nattempts = 1\ntotal_seconds = 1\ninitial = 0\nmax_wait = 0\n'
        '[alert]\nfailing_after = 1\n[policy]\nseed = "s"\n'
    )


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [form for secret in secrets for form in forms_of(secret) if form in text]


def files_text(folder: Path) -> str:
    """Every file the runs left (state, its WAL, reports, sinks, logs) but the config the user wrote."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "sync.toml":
            out.append(path.read_bytes().decode("latin-1"))
    return "\n".join(out)


def commands(config: Path, folder: Path) -> list[list[str]]:
    state = str(folder / "state.sqlite")
    runs = [["sync", "--config", str(config), "--now", NOW, *flags] for flags in FLAGS]
    runs += [["--debug", "sync", "--config", str(config), "--now", NOW, *flags] for flags in FLAGS]
    runs += [["status", "--config", str(config), "--now", NOW, *fmt] for fmt in ([], ["--format", "json"])]
    runs += [["--debug", "plan", "--config", str(config), "--since", "2026-01-01T00:00:00Z", "--until", NOW]]
    runs += [["plan", "--config", str(config), "--since", "2026-01-01T00:00:00Z", "--until", NOW]]
    runs += [["report", "--ledger", state, "--metric", "correct", *fmt] for fmt in ([], ["--format", "json"])]
    return runs


@pytest.fixture
def fresh_process(monkeypatch):
    """What a new process knows: nothing registered yet (each command registers what it reads)."""
    monkeypatch.setattr(redaction, "_values", set())
    monkeypatch.setattr(redaction, "_env_names", set())
    for name in ("PHOENIX_API_KEY", "PHOENIX_BASE_URL", "PHOENIX_COLLECTOR_ENDPOINT", "LANGFUSE_PUBLIC_KEY",
                 "LANGFUSE_SECRET_KEY", "LANGFUSE_BASE_URL", "LANGFUSE_HOST"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s.name)
def test_no_secret_in_any_output_or_file(scenario, status, tmp_path, monkeypatch, capsys, fresh_process):
    with EchoServer(status) as server:
        for name, value in scenario.env.items():
            monkeypatch.setenv(name, value.replace("{host}", server.hostport))
        config = tmp_path / "sync.toml"
        config.write_text(config_text(scenario, server.hostport))
        seen = []
        for argv in commands(config, tmp_path):
            monkeypatch.setattr(redaction, "_values", set())
            monkeypatch.setattr(redaction, "_env_names", set())
            code = main(argv)
            out = capsys.readouterr()
            assert code != 1, (argv, out.err)  # never an internal error
            seen.append(f"$ {' '.join(argv)} -> {code}\n{out.out}\n{out.err}")
    text = "\n".join(seen)
    reached = {400: "rejected", 401: "401", 500: "rejected", 200: "not JSON"}[status]
    assert reached in text, text[:3000]  # the server was reached and answered
    assert leaks(text, scenario.secrets) == [], text[:4000]
    assert leaks(files_text(tmp_path), scenario.secrets) == []


@pytest.mark.parametrize("status", [401, 500])
def test_demo_url_line_and_errors_hide_the_login(status, tmp_path, monkeypatch, capsys, fresh_process):
    password = "p@ss/w%rd" + made_up("")
    key = made_up("phx")
    with EchoServer(status) as server:
        monkeypatch.setenv("PHOENIX_BASE_URL", f"http://admin:{password}@{server.hostport}")
        monkeypatch.setenv("PHOENIX_API_KEY", key)
        code = main(["--debug", "demo", "--workdir", str(tmp_path / "demo"), "--traces", "50"])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code not in (0, 1), text
    assert f"using Phoenix at http://{server.hostport} (PHOENIX_BASE_URL)" in text
    assert leaks(text + files_text(tmp_path), [password, f"admin:{password}", key]) == []


def test_a_separate_process_with_debug_prints_no_secret(tmp_path):
    """The real entry point, tracebacks included, in its own process (no registry shared with the test)."""
    key = made_up("phx")
    password = "a@b/c%d" + made_up("")
    with EchoServer(500) as server:
        config = tmp_path / "sync.toml"
        scenario = Scenario("x", 'type = "phoenix"\nbase_url = "http://admin:' + password + '@{host}"\nproject = "p"\n')
        config.write_text(config_text(scenario, server.hostport))
        env = {**os.environ, "PHOENIX_API_KEY": key}
        texts = []
        for argv in (["--debug", "sync", "-v", "--config", str(config), "--now", NOW],
                     ["status", "--config", str(config), "--now", NOW, "--format", "json"]):
            done = subprocess.run([sys.executable, "-m", "tracestrata.cli.main", *argv], capture_output=True,
                                  text=True, env=env, timeout=120)
            assert done.returncode not in (0, 1), done.stderr
            texts.append(done.stdout + done.stderr)
    assert "HTTP 500" in texts[0]
    assert leaks("\n".join(texts) + files_text(tmp_path), [key, password, f"admin:{password}"]) == []

"""Credentials in URLs never reach a line; the state store is private; one lock per real store."""

import os
import stat
from pathlib import Path

import pytest

from tracestrata.cli.main import main
from tracestrata.errors import LockedError, SourceError, StateError, redact_urls
from tracestrata.job.logs import NullLog
from tracestrata.job.state import State
from tracestrata.job.state_file import lock_state

HIDDEN = "-".join(("must", "not", "show"))  # made up at run time: no file holds a URL with a login in it


def login(scheme: str, user: str, hidden: str | None = None) -> str:
    """`scheme://user[:password]@`: what the redaction must hide."""
    return f"{scheme}://{user}{':' + hidden if hidden else ''}@"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (f"GET {login('http', 'admin', 'x')}host:6006/v1/spans failed", "GET http://***@host:6006/v1/spans failed"),
        (f"{login('https', 'user')}example.org/x and {login('s3', 'a', 'b')}bucket/p", "https://***@example.org/x and s3://***@bucket/p"),
        ("no url, a@b.c mail", "no url, a@b.c mail"),
        ("http://host/path?x=a@b", "http://host/path?x=a@b"),
    ],
)
def test_userinfo_is_redacted(text, want):
    assert redact_urls(text) == want


def test_errors_and_logs_redact_userinfo():
    error = SourceError(f"cannot reach {login('http', 'admin', HIDDEN)}127.0.0.1:9/v1", path="sync.toml")
    assert HIDDEN not in str(error) and "http://***@127.0.0.1:9/v1" in str(error)
    log = NullLog()
    log.warn("x", f"retrying {login('https', 'u', HIDDEN)}h/ after 503")
    assert all(HIDDEN not in line["message"] for line in log.lines)


def test_cli_error_line_never_shows_the_login(tmp_path, capsys):
    config = tmp_path / "sync.toml"
    config.write_text(
        f'state = "s.sqlite"\n[source]\ntype = "phoenix"\nbase_url = "{login("http", "admin", HIDDEN)}127.0.0.1:9"\n'
        'project = "p"\n[window]\nevery = "1h"\nstart = "2026-01-01T00:00:00Z"\n'
        '[retry]\nattempts = 1\ntotal_seconds = 1\n[policy]\nseed = "s"\n'
    )
    code = main(["sync", "--config", str(config), "-v"])
    captured = capsys.readouterr()
    assert code != 0 and "internal error" not in captured.err
    assert HIDDEN not in captured.err + captured.out


def test_state_store_and_its_wal_are_owner_only(tmp_path):
    path = tmp_path / "var" / "state.sqlite"
    with State(path) as state:
        state.set_cursor("files:x", "k", "v")
        files = [p for p in path.parent.iterdir() if p.name.startswith("state.sqlite")]
        assert {p.name for p in files} >= {"state.sqlite", "state.sqlite-wal"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_an_existing_world_readable_store_is_narrowed(tmp_path):
    path = tmp_path / "state.sqlite"
    with State(path):
        pass
    os.chmod(path, 0o644)
    with State(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_store_and_a_symlink_to_it_share_one_lock(tmp_path):
    real = tmp_path / "state.sqlite"
    real.touch()
    link = tmp_path / "link.sqlite"
    link.symlink_to(real)
    with lock_state(real):
        with pytest.raises(LockedError):
            with lock_state(link):
                pass
    with lock_state(Path(os.path.relpath(real))):  # another spelling of the same path, once free
        pass


def test_a_state_path_that_cannot_exist_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot open the state store"):
        State(blocker / "state.sqlite")
    with pytest.raises(StateError, match="cannot open the state store"), lock_state(blocker / "state.sqlite"):
        pass  # the lock beside it cannot exist either: one line, before the store is opened

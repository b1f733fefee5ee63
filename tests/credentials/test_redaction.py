"""`redact`: every credential the process holds, in every form a server echoes, is hidden."""

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from tracestrata import redaction
from tracestrata.errors import SourceError
from tracestrata.redaction import display_url, normalize_url, redact, split_userinfo

from credential_forms import forms_of, made_up


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(redaction, "_values", set())
    monkeypatch.setattr(redaction, "_env_names", set())


def test_default_variables_are_known_without_a_config(monkeypatch):
    key = made_up("phx")
    monkeypatch.setenv("PHOENIX_API_KEY", key)
    text = f"HTTP 400: rejected Authorization=Bearer{key} and {key} and {base64.b64encode(key.encode()).decode()}"
    out = redact(text)
    assert all(form not in out for form in forms_of(key)), out


def test_a_named_variable_is_known_once_registered(monkeypatch):
    key = made_up("named")
    monkeypatch.setenv("MY_PHX", key)  # a name that does not say "key"
    assert key in redact(f"echo {key}")
    redaction.register_env(["MY_PHX"])
    assert key not in redact(f"echo {key}")


def test_basic_auth_of_a_key_pair_is_hidden_at_any_offset(monkeypatch):
    public, secret = made_up("pk-lf"), made_up("sk-lf")
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", public)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", secret)
    for prefix in ("", "x", "xy", "xyz:"):
        pair = base64.b64encode(f"{prefix}{public}:{secret}".encode()).decode()
        out = redact(f"echoed header: {pair} (bare, no 'Basic')")
        assert pair not in out and all(f not in out for f in forms_of(secret)), out


@pytest.mark.parametrize("password_shape", ["p@ss@word", "pa/ss/word", "pa%ss%2Fword", "p:a@s/s%w?rd#x"])
def test_userinfo_with_any_character_parses_and_is_hidden(password_shape):
    password = password_shape + made_up("")
    url = f"http://admin:{password}@127.0.0.1:6006/v1"
    clean, user, got = split_userinfo(url)
    assert clean == "http://127.0.0.1:6006/v1" and user == "admin"
    assert got == password.replace("%2F", "/")
    normal = normalize_url(url)
    assert split_userinfo(normal)[2] == got  # round trip through the escaped form
    assert display_url(url) == "http://127.0.0.1:6006/v1"
    redaction.register_url(url)
    out = redact(f"cannot reach {url} ({normal})")
    assert all(f not in out for f in forms_of(got)), out


def test_unknown_logins_and_credential_shapes_are_hidden_without_knowing_them():
    hidden = made_up("x")
    text = (
        f"http://u:{hidden}@h.example/x?api_key={hidden}&page=2 "
        f'Authorization: Bearer {hidden} {{"password": "{hidden}"}} token={hidden} Basic {hidden}'
    )
    out = redact(text)
    assert hidden not in out and "page=2" in out, out


def test_plain_text_is_left_alone():
    for text in ("no url, a@b.c mail", "http://host/path?x=a@b", "set api_key_env = \"VAR\"", "source.api_key: do not"):
        assert redact(text) == text


def test_error_lines_are_redacted_and_truncation_never_leaves_half_a_key(monkeypatch):
    key = made_up("phx")
    monkeypatch.setenv("PHOENIX_API_KEY", key)
    error = SourceError(f"HTTP 500: {json.dumps({'headers': {'authorization': 'Bearer ' + key}})}")
    assert key not in str(error)
    assert quote(key, safe="") not in redact(quote(key, safe="")) and quote_plus(key) not in redact(quote_plus(key))

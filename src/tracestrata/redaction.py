"""No credential reaches text: one redaction that knows every credential the process holds.

`redact(text)` is applied where an error or a log line becomes text (`TracestrataError.__str__`,
the sync log, the CLI's stderr, `status`) and before an error is stored in the state. It hides:

- the values of credential environment variables: the defaults the connectors read
  (`PHOENIX_API_KEY`, `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY`, ...), any variable a
  config names (`*_env`, see `register_env`), and any variable whose name says it holds a
  secret (`*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`...; values of 8 characters or more);
- the password of every URL the process was given (`register_url`; URL-valued environment
  variables are read too) and the values of credential query parameters (`api_key=`, `key=`,
  `token=`...);
- each of those in the forms a backend or proxy echoes: base64 (a `Basic base64(user:secret)`
  header hides the secret at any offset), URL-encoded, JSON- and repr-escaped;
- and, without knowing the value, anything shaped like a credential: URL userinfo,
  `Authorization`/`Basic`/`Bearer` values, credential query parameters.

`split_userinfo` parses a URL whatever its password holds (`@`, `/`, `%`), so the connectors
send the login as Basic auth and show the URL without it (`display_url`).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, unquote

MASK = "***"

DEFAULT_SECRET_ENV = (
    "PHOENIX_API_KEY",
    "PHOENIX_ADMIN_SECRET",
    "PHOENIX_SECRET",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "OPENAI_API_KEY",
)
"""Read by the connectors (or the judge's client) when a config leaves them implicit."""

URL_ENV = ("PHOENIX_BASE_URL", "PHOENIX_COLLECTOR_ENDPOINT", "LANGFUSE_BASE_URL", "LANGFUSE_HOST", "OPENAI_BASE_URL")

_SECRET_NAME = re.compile(r"(?i)(key|token|secret|passw|pwd|credential|auth|cookie|session)")
_CREDENTIAL_PARAM = (
    r"api[_-]?key|apikey|key|token|access[_-]?token|refresh[_-]?token|id[_-]?token|auth|secret|"
    r"client[_-]?secret|password|passwd|pwd|sig|signature|x-api-key|session|code"
)
_QUERY = re.compile(rf"(?i)([?&;](?:{_CREDENTIAL_PARAM})=)([^&\s#'\"<>]+)")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#'\"<>]*@")
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|x-langfuse-public-key|cookie|set-cookie)(?![\w-])"
    r"([\"']?\s*[:=]\s*[\"']?)(?:(basic|bearer|token|digest)\s+)?[^\s\"',;}&]+"
    r"|(?i:\b(api[_-]?key|apikey|secret[_-]?key|public[_-]?key|access[_-]?token|password|passwd|token|secret)(?![\w-])"
    r"(\s*=\s*[\"']?|[\"']\s*:\s*[\"']?)[^\s\"',;}&]+)"
)
_SCHEME_TOKEN = re.compile(r"(?i)\b(basic|bearer)(\s+)[A-Za-z0-9._~+/=-]{6,}")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")

_values: set[str] = set()
_env_names: set[str] = set()


def register_secret(*values: str | None) -> None:
    """Hide these values (a key read from a file, a password) in every later line."""
    _values.update(v for v in values if v)


def register_env(names: Iterable[str]) -> None:
    """Hide the values of these environment variables (a config's `*_env` options)."""
    _env_names.update(n for n in names if n)


def register_url(url: str | None) -> None:
    """Hide the password and the credential query values of `url` (a configured base URL)."""
    if url:
        register_secret(*_url_secrets(url))


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """`(url without userinfo, user, password)`, user and password percent-decoded.

    The userinfo ends at the last `@` that is followed by a host (a name, an IP or `[v6]`,
    with an optional port) and then `/`, `?`, `#` or the end, so a password holding `@`,
    `/` or `%` is parsed whole. `%XX` is an escape (RFC 3986); any other `%` is literal.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url, None, None
    for at in reversed([i for i, c in enumerate(rest) if c == "@"]):
        tail = rest[at + 1 :]
        host = re.split(r"[/?#]", tail, maxsplit=1)[0]
        if _HOST.match(host) and ("." in host or ":" in host or host == "localhost" or host.startswith("[")):
            userinfo = rest[:at]
            user, colon, password = userinfo.partition(":")
            return f"{scheme}://{tail}", _decode(user), _decode(password) if colon else None
    return url, None, None


def normalize_url(url: str) -> str:
    """`url` with its userinfo percent-encoded, so an HTTP client parses it (a `/` in a password)."""
    clean, user, password = split_userinfo(url)
    if user is None and password is None:
        return url
    scheme, _, rest = clean.partition("://")
    login = quote(user or "", safe="") + (":" + quote(password, safe="") if password is not None else "")
    return f"{scheme}://{login}@{rest}"


def display_url(url: str) -> str:
    """`url` as shown to a person: no userinfo, credential query values hidden."""
    return redact_url_credentials(split_userinfo(url)[0])


def redact_url_credentials(text: str) -> str:
    """Userinfo and credential query values hidden, knowing nothing else (stable across runs)."""
    text = _USERINFO.sub(r"\1***@", text)
    return _QUERY.sub(r"\1***", text)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every known credential (any form) and anything shaped like one hidden."""
    if not text:
        return text
    pattern = _known_pattern(tuple(sorted(_known_values(extra))))
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _HEADER.sub(_header_mask, text)
    text = _SCHEME_TOKEN.sub(r"\1\2***", text)
    return redact_url_credentials(text)


class RedactingStream:
    """A text stream that redacts every write before passing it on (the CLI's stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno...: the wrapped stream's
        return getattr(self.stream, name)


def _header_mask(match: re.Match[str]) -> str:
    if match.group(1) is None:  # a credential field: `api_key=...`, `"password": "..."`
        return f"{match.group(4)}{match.group(5)}{MASK}"
    scheme = f"{match.group(3)} " if match.group(3) else ""
    return f"{match.group(1)}{match.group(2)}{scheme}{MASK}"


def _decode(part: str) -> str:
    return re.sub(r"%[0-9A-Fa-f]{2}", lambda m: unquote(m.group()), part)


def _url_secrets(url: str) -> list[str]:
    out: list[str] = []
    clean, user, password = split_userinfo(url)
    scheme, _, rest = url.partition("://")
    if password:
        out += [password, f"{user}:{password}"]
        out.append(rest[: len(rest) - len(clean.partition("://")[2])].removesuffix("@"))  # as written
    out += [m.group(2) for m in _QUERY.finditer(url)]
    out += [_decode(m.group(2)) for m in _QUERY.finditer(url)]
    return out


def _known_values(extra: Iterable[str]) -> set[str]:
    env = os.environ
    found = {v for v in _values if len(v) >= 4}
    found.update(v for v in extra if v and len(v) >= 4)
    for name in (*DEFAULT_SECRET_ENV, *_env_names):
        value = env.get(name)
        if value and len(value.strip()) >= 4:
            found.add(value.strip())
    for name, value in env.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and not value.startswith("/"):  # not a path
            found.add(value)
        if "://" in value or name in URL_ENV:
            found.update(v for v in _url_secrets(value) if len(v) >= 4)
    public, secret = env.get("LANGFUSE_PUBLIC_KEY"), env.get("LANGFUSE_SECRET_KEY")
    if public and secret:
        found.add(f"{public}:{secret}")
    return found


@functools.lru_cache(maxsize=32)
def _known_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for value in values:
        forms.update(_forms(value))
    forms = {f for f in forms if len(f) >= 4}
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def _forms(value: str) -> set[str]:
    """Every spelling of `value` a server or proxy may echo back."""
    raw = value.encode()
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
    }
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), f) for f in list(forms) if "%" in f}
    forms |= _base64_cores(raw)
    return forms


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend only on `raw`, at each of the three byte offsets it can
    sit at inside a longer encoded string (`base64(user:secret)` holds the secret's core)."""
    out: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0").decode()
        urlsafe = base64.urlsafe_b64encode(b"\0" * offset + raw + b"\0\0").decode()
        first = -(-8 * offset // 6)  # the first character whose 6 bits all come from `raw`
        last = (8 * (offset + len(raw))) // 6  # one past the last such character
        if last - first >= 6:
            out.add(encoded[first:last])
            out.add(urlsafe[first:last])
    return out


__all__ = [
    "DEFAULT_SECRET_ENV",
    "MASK",
    "RedactingStream",
    "display_url",
    "normalize_url",
    "redact",
    "redact_url_credentials",
    "register_env",
    "register_secret",
    "register_url",
    "split_userinfo",
]

"""The `[source]` options of the Langfuse connector, validated once, before any request.

Credentials are read from environment variables whose *names* the options may
override; a missing key fails here with the variable's name (the SDK would only
warn and then send unauthenticated requests).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


from tracestrata.errors import ConfigError
from tracestrata.redaction import normalize_url, register_env, register_url

from .ratelimit import parse_limits

DEFAULT_BASE_URL = "https://cloud.langfuse.com"
# `metrics` (latency) and `usage` (totalCost) are needed for the record besides the
# brief's basic/metadata/trace_context; none of them carries input/output bodies.
DEFAULT_FIELDS = "basic,metadata,trace_context,metrics,usage"
KNOWN_FIELD_GROUPS = frozenset(
    {"core", "basic", "time", "io", "metadata", "model", "usage", "prompt", "metrics", "trace_context"}
)
# Types we can create without more input; a CATEGORICAL config needs its categories, so it
# must exist already (named by `score_config`).
SCORE_CONFIG_TYPES = ("BOOLEAN", "NUMERIC")

KNOWN_KEYS = frozenset(
    {
        "base_url",
        "base_url_env",
        "public_key_env",
        "secret_key_env",
        "environment",
        "project",
        "page_size",
        "fields",
        "include_bodies",
        "score_config",
        "score_config_type",
        "queue_journal_path",
        "rate_limits",
        "timeout",
        "retry_attempts",
        "retry_seconds",
        "trace_ids_per_request",
    }
)


@dataclass(frozen=True)
class Credentials:
    public_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    public_key_env: str = "LANGFUSE_PUBLIC_KEY"
    secret_key_env: str = "LANGFUSE_SECRET_KEY"
    base_url_env: str = "LANGFUSE_BASE_URL"

    def hint(self) -> str:
        """What to check when the server refuses us (names only, never values)."""
        return f"check {self.public_key_env}, {self.secret_key_env} and {self.base_url_env} (or LANGFUSE_HOST)"


@dataclass(frozen=True)
class LangfuseOptions:
    base_url: str
    credentials: Credentials
    environment: tuple[str, ...] = ()
    project: str | None = None
    page_size: int = 1000
    fields: str = DEFAULT_FIELDS
    include_bodies: bool = False
    score_config: str = "tracestrata_review"
    score_config_type: str = "BOOLEAN"
    queue_journal: Path | None = None
    rate_limits: Mapping[str, float] = field(default_factory=lambda: parse_limits(None))
    timeout: float = 30.0
    retry_attempts: int = 5
    retry_seconds: float = 120.0
    trace_ids_per_request: int = 50


class _Reader:
    """The options table read key by key: a bad value is one `ConfigError` naming `source.<key>`."""

    def __init__(self, options: Mapping[str, object]) -> None:
        self.options = options

    def text(self, key: str, default: str) -> str:
        value = self.options.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError("expected a non-empty string", field=f"source.{key}")
        return value

    def number(self, key: str, default: float, low: float, high: float | None = None) -> float:
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _within(value, low, high):
            raise ConfigError(f"expected a number {_bounds(low, high)}", field=f"source.{key}")
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int | None = None) -> int:
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not _within(value, low, high):
            raise ConfigError(f"expected an integer {_bounds(low, high)}", field=f"source.{key}")
        return value


def _within(value: float, low: float, high: float | None) -> bool:
    return low <= value and (high is None or value <= high)


def _bounds(low: float, high: float | None) -> str:
    return f"between {low} and {high}" if high is not None else f">= {low}"


def _credentials(read: _Reader, env: Mapping[str, str]) -> Credentials:
    """The names of the key variables (checked set) and their values."""
    pk_env = read.text("public_key_env", "LANGFUSE_PUBLIC_KEY")
    sk_env = read.text("secret_key_env", "LANGFUSE_SECRET_KEY")
    url_env = read.text("base_url_env", "LANGFUSE_BASE_URL")
    missing = [name for name in (pk_env, sk_env) if not env.get(name)]
    if missing:
        raise ConfigError(
            f"environment variable{'s' if len(missing) > 1 else ''} {' and '.join(missing)} not set "
            "(the Langfuse project's API keys)",
            field="source",
        )
    return Credentials(env[pk_env], env[sk_env], pk_env, sk_env, url_env)


def _base_url(options: Mapping[str, object], env: Mapping[str, str], credentials: Credentials) -> str:
    """The API's URL, its credentials (if any) registered for redaction."""
    base_url = options.get("base_url") or env.get(credentials.base_url_env) or env.get("LANGFUSE_HOST") or DEFAULT_BASE_URL
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError("expected an http(s) URL", field="source.base_url")
    register_env([credentials.public_key_env, credentials.secret_key_env, credentials.base_url_env])
    register_url(base_url)
    return normalize_url(base_url).rstrip("/")  # a password holding `/` or `@` parses


def _environment(options: Mapping[str, object]) -> tuple[str, ...]:
    environment = options.get("environment", ())
    if isinstance(environment, str):
        environment = (environment,)
    if not isinstance(environment, (list, tuple)) or not all(isinstance(e, str) and e for e in environment):
        raise ConfigError("expected a string or a list of strings", field="source.environment")
    return tuple(environment)


def _fields(read: _Reader) -> str:
    fields = read.text("fields", DEFAULT_FIELDS)
    groups = {g.strip() for g in fields.split(",")}
    if not groups <= KNOWN_FIELD_GROUPS or "io" in groups:
        raise ConfigError(
            f"expected field groups from {', '.join(sorted(KNOWN_FIELD_GROUPS - {'io'}))} (bodies are never pulled)",
            field="source.fields",
        )
    return fields


def _score_config_type(read: _Reader) -> str:
    score_config_type = read.text("score_config_type", "BOOLEAN").upper()
    if score_config_type not in SCORE_CONFIG_TYPES:
        raise ConfigError(
            f"expected one of {', '.join(SCORE_CONFIG_TYPES)} (a categorical config must already exist in "
            "Langfuse: name it in score_config)",
            field="source.score_config_type",
        )
    return score_config_type


def _optional(options: Mapping[str, object], key: str, kinds: tuple[type, ...], what: str) -> object:
    value = options.get(key)
    if value is not None and not isinstance(value, kinds):
        raise ConfigError(f"expected {what}", field=f"source.{key}")
    return value


def parse_options(options: Mapping[str, object], env: Mapping[str, str] | None = None) -> LangfuseOptions:
    """Validate the options table; raises `ConfigError` naming the offending key."""
    env = os.environ if env is None else env
    unknown = sorted(set(options) - KNOWN_KEYS - {"type"})
    if unknown:
        raise ConfigError(f"unknown option; known: {', '.join(sorted(KNOWN_KEYS))}", field=f"source.{unknown[0]}")
    read = _Reader(options)
    credentials = _credentials(read, env)
    base_url = _base_url(options, env, credentials)
    environment = _environment(options)
    fields = _fields(read)
    include_bodies = options.get("include_bodies", False)
    if not isinstance(include_bodies, bool):
        raise ConfigError("expected true or false", field="source.include_bodies")
    score_config_type = _score_config_type(read)
    journal = _optional(options, "queue_journal_path", (str, Path), "a file path")
    project = _optional(options, "project", (str,), "a string")
    try:
        limits = parse_limits(options.get("rate_limits"))
    except (TypeError, KeyError, ValueError) as exc:
        raise ConfigError(str(exc).strip("'\""), field="source.rate_limits") from None
    return LangfuseOptions(
        base_url=base_url,
        credentials=credentials,
        environment=environment,
        project=str(project) if project is not None else None,
        page_size=read.integer("page_size", 1000, 1, 1000),
        fields=fields,
        include_bodies=include_bodies,
        score_config=read.text("score_config", "tracestrata_review"),
        score_config_type=score_config_type,
        queue_journal=Path(str(journal)) if journal is not None else None,
        rate_limits=limits,
        timeout=read.number("timeout", 30.0, 0.1),
        retry_attempts=read.integer("retry_attempts", 5, 1),
        retry_seconds=read.number("retry_seconds", 120.0, 0),
        trace_ids_per_request=read.integer("trace_ids_per_request", 50, 1, 200),
    )


__all__ = ["DEFAULT_FIELDS", "Credentials", "LangfuseOptions", "parse_options"]

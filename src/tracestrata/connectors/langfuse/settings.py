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
from typing import Any

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


def parse_options(options: Mapping[str, Any], env: Mapping[str, str] | None = None) -> LangfuseOptions:
    """Validate the options table; raises `ConfigError` naming the offending key."""
    env = os.environ if env is None else env
    unknown = sorted(set(options) - KNOWN_KEYS - {"type"})
    if unknown:
        raise ConfigError(f"unknown option; known: {', '.join(sorted(KNOWN_KEYS))}", field=f"source.{unknown[0]}")

    def text(key: str, default: str) -> str:
        value = options.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError("expected a non-empty string", field=f"source.{key}")
        return value

    def number(key: str, default: float, low: float, high: float | None = None, integer: bool = False) -> Any:
        value = options.get(key, default)
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise ConfigError(f"expected {'an integer' if integer else 'a number'} {bound}", field=f"source.{key}")
        return value

    pk_env = text("public_key_env", "LANGFUSE_PUBLIC_KEY")
    sk_env = text("secret_key_env", "LANGFUSE_SECRET_KEY")
    url_env = text("base_url_env", "LANGFUSE_BASE_URL")
    missing = [name for name in (pk_env, sk_env) if not env.get(name)]
    if missing:
        raise ConfigError(
            f"environment variable{'s' if len(missing) > 1 else ''} {' and '.join(missing)} not set "
            "(the Langfuse project's API keys)",
            field="source",
        )
    base_url = options.get("base_url") or env.get(url_env) or env.get("LANGFUSE_HOST") or DEFAULT_BASE_URL
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError("expected an http(s) URL", field="source.base_url")
    register_env([pk_env, sk_env, url_env])
    register_url(base_url)
    base_url = normalize_url(base_url)  # a password holding `/` or `@` parses

    environment = options.get("environment", ())
    if isinstance(environment, str):
        environment = (environment,)
    if not isinstance(environment, (list, tuple)) or not all(isinstance(e, str) and e for e in environment):
        raise ConfigError("expected a string or a list of strings", field="source.environment")

    fields = text("fields", DEFAULT_FIELDS)
    groups = {g.strip() for g in fields.split(",")}
    if not groups <= KNOWN_FIELD_GROUPS or "io" in groups:
        raise ConfigError(
            f"expected field groups from {', '.join(sorted(KNOWN_FIELD_GROUPS - {'io'}))} (bodies are never pulled)",
            field="source.fields",
        )

    include_bodies = options.get("include_bodies", False)
    if not isinstance(include_bodies, bool):
        raise ConfigError("expected true or false", field="source.include_bodies")
    score_config_type = text("score_config_type", "BOOLEAN").upper()
    if score_config_type not in SCORE_CONFIG_TYPES:
        raise ConfigError(
            f"expected one of {', '.join(SCORE_CONFIG_TYPES)} (a categorical config must already exist in "
            "Langfuse: name it in score_config)",
            field="source.score_config_type",
        )
    journal = options.get("queue_journal_path")
    if journal is not None and not isinstance(journal, (str, Path)):
        raise ConfigError("expected a file path", field="source.queue_journal_path")
    project = options.get("project")
    if project is not None and not isinstance(project, str):
        raise ConfigError("expected a string", field="source.project")
    try:
        limits = parse_limits(options.get("rate_limits"))
    except (TypeError, KeyError, ValueError) as exc:
        raise ConfigError(str(exc).strip("'\""), field="source.rate_limits") from None

    return LangfuseOptions(
        base_url=base_url.rstrip("/"),
        credentials=Credentials(env[pk_env], env[sk_env], pk_env, sk_env, url_env),
        environment=tuple(environment),
        project=project,
        page_size=number("page_size", 1000, 1, 1000, integer=True),
        fields=fields,
        include_bodies=include_bodies,
        score_config=text("score_config", "tracestrata_review"),
        score_config_type=score_config_type,
        queue_journal=Path(journal) if journal is not None else None,
        rate_limits=limits,
        timeout=float(number("timeout", 30.0, 0.1)),
        retry_attempts=number("retry_attempts", 5, 1, integer=True),
        retry_seconds=float(number("retry_seconds", 120.0, 0)),
        trace_ids_per_request=number("trace_ids_per_request", 50, 1, 200, integer=True),
    )


__all__ = ["DEFAULT_FIELDS", "Credentials", "LangfuseOptions", "parse_options"]

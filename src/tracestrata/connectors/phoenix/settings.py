"""Connector options (the config's `[source]` table) validated once, at the edge.

The API key is never an option: only the *name* of the environment variable that
holds it (`api_key_env`, default `PHOENIX_API_KEY`) may appear in a config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracestrata.errors import ConfigError
from tracestrata.redaction import display_url, normalize_url, register_env, register_url

DEFAULT_BASE_URL = "http://127.0.0.1:6006"


class PhoenixSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = ""
    project: str = "default"
    api_key_env: str = "PHOENIX_API_KEY"
    timeout: float = Field(60.0, gt=0)
    # Pull: the window is cut into chunks of at most `chunk_seconds`, each fetched with
    # at most `page_limit` rows; a full chunk is split in half and fetched again.
    chunk_seconds: float = Field(86400.0, gt=0)
    page_limit: int = Field(20000, ge=1)
    # Trace annotations copied into `TraceRecord.scores` (e.g. user feedback a failure signal reads).
    record_scores: tuple[str, ...] = ()
    # Score read-back: one judge's `identifier` when several write the same name ("" = the default one).
    score_identifier: str | None = None
    # Where scores live: trace annotations, annotations on the trace's root span (where Phoenix's
    # annotation panel writes a reviewer's label), or both (the newest per trace and name wins).
    score_level: Literal["trace", "span", "both"] = "both"
    review_annotation: str = "tracestrata.sampled"  # the sampling marker (not a label; docs/phoenix.md)
    ids_per_request: int = Field(200, ge=1, le=2000)
    # Per request, for library use: under `tracestrata sync` and `plan --config` the
    # config's [retry] policy replaces these (tracestrata.io.retry.governing).
    retry_attempts: int = Field(3, ge=1)
    retry_seconds: float = Field(20.0, ge=0)
    retry_initial: float = Field(0.5, ge=0)

    @field_validator("base_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        register_url(value)  # a login in the URL is hidden in every line from now on
        return normalize_url(value.rstrip("/"))  # a password holding `/` or `@` parses

    @property
    def shown_url(self) -> str:
        """The base URL for messages: without its login."""
        return display_url(self.base_url)

    def api_key(self) -> str | None:
        register_env([self.api_key_env])
        return os.environ.get(self.api_key_env) or None


def load_settings(options: Mapping[str, object]) -> PhoenixSettings:
    data = dict(options)
    data.pop("type", None)
    if "api_key" in data:
        raise ConfigError(
            "do not put the API key in the config; set PHOENIX_API_KEY (or name another variable in api_key_env)",
            field="source.api_key",
        )
    if not data.get("base_url"):
        data["base_url"] = resolve_base_url()
    if isinstance(data.get("record_scores"), list):
        data["record_scores"] = tuple(data["record_scores"])
    try:
        return PhoenixSettings(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or "source"
        raise ConfigError(str(first.get("msg", "invalid")), field=f"source.{name}") from None


def resolve_base_url() -> str:
    """`PHOENIX_BASE_URL`, else the collector endpoint Phoenix users already set, else localhost:6006."""
    url = os.environ.get("PHOENIX_BASE_URL") or os.environ.get("PHOENIX_COLLECTOR_ENDPOINT") or DEFAULT_BASE_URL
    url = url.rstrip("/")
    for suffix in ("/v1/traces",):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url

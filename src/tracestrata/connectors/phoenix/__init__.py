"""Arize Phoenix connector: `create(options)` is the `tracestrata.connectors` entry point.

Options (the config's `[source]` table): `base_url` (else `PHOENIX_BASE_URL`, else
`PHOENIX_COLLECTOR_ENDPOINT`, else http://127.0.0.1:6006), `project`,
`api_key_env` (name of the variable holding the key, default `PHOENIX_API_KEY`),
`record_scores`, `score_identifier`, `chunk_seconds`, `page_limit`, `timeout`,
`retry_attempts`, `retry_seconds` (library use; sync uses its config's `[retry]`).
See docs/phoenix.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx

from tracestrata.protocols import HumanLabel, SinkKind, Window

from .client import PhoenixHTTP
from .configs import AnnotationConfigs, label_config
from .judging import PhoenixBodyFetcher, PhoenixScoreWriter
from .projects import ProjectResolver
from .scores import PhoenixScoreSource
from .settings import PhoenixSettings, load_settings
from .ui import filtered_traces_url, sample_filter
from .sinks import PhoenixDatasetSink, PhoenixReviewSink
from .source import PhoenixTraceSource


class PhoenixConnector:
    name = "phoenix"

    def __init__(self, settings: PhoenixSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.http = PhoenixHTTP(settings, transport=transport)
        self.projects = ProjectResolver(self.http)
        self._scores = PhoenixScoreSource(self.http, self.projects)
        self._source = PhoenixTraceSource(self.http, self.projects, self._scores)

    def trace_source(self) -> PhoenixTraceSource:
        return self._source

    def score_source(self) -> PhoenixScoreSource:
        return self._scores

    def sample_sink(self, kind: SinkKind, name: str) -> PhoenixDatasetSink | PhoenixReviewSink:
        if SinkKind(kind) is SinkKind.DATASET:
            return PhoenixDatasetSink(self.http, name)
        return PhoenixReviewSink(self.http, self.projects, self._scores, name)

    def ensure_labels(self, labels: Sequence[HumanLabel]) -> list[str]:
        """An annotation config per label, created when missing and attached to the project,
        so the trace page's annotation panel offers it (configs.py); the names created."""
        if not labels:
            return []
        self.projects.require(self.settings.project)
        configs = AnnotationConfigs(self.http, self.settings.project)
        created, ids = [], []
        for label in labels:
            config_id, new = configs.ensure(label_config(label))
            ids.append(config_id)
            if new:
                created.append(label.name)
        configs.attach(ids)
        return created

    def body_fetcher(self) -> PhoenixBodyFetcher:
        return PhoenixBodyFetcher(self.http, self.projects)

    def score_writer(self) -> PhoenixScoreWriter:
        return PhoenixScoreWriter(self.http)

    def project_url(self) -> str:
        """The project's page in the Phoenix UI, without the base URL's login (it goes into reports)."""
        return f"{self.settings.shown_url}/projects/{self.projects.require(self.settings.project)}"

    def trace_url(self, trace_id: str) -> str | None:
        return f"{self.project_url()}/traces/{trace_id}"

    def review_url(self, window: Window, marker: str | None = None) -> str | None:
        """The project's Traces tab filtered to the traces marked for review in `window`
        (Phoenix keeps its own order, newest first; a link cannot change it)."""
        condition = sample_filter(marker or self.settings.review_annotation)
        return filtered_traces_url(self.project_url(), condition, window.start, window.end)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PhoenixConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create(options: Mapping[str, object] | None = None, *, transport: httpx.BaseTransport | None = None) -> PhoenixConnector:
    return PhoenixConnector(load_settings(options or {}), transport=transport)


__all__ = ["PhoenixConnector", "PhoenixSettings", "create"]

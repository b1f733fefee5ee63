"""Langfuse connector: traces from root observations, samples to a dataset or annotation queue,
scores read back by trace id. Entry point `tracestrata.connectors.langfuse:create`.

The SDK (`langfuse` 5.x, its generated `LangfuseAPI` client and pydantic models) is
imported only inside this package. See `docs/langfuse.md` for the options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


from tracestrata.errors import ConfigError, FatalSourceError, RetriableSourceError
from tracestrata.io.retry import RetryPolicy, SleepFn
from tracestrata.protocols import HumanLabel, SampleSink, SinkKind, Window
from tracestrata.redaction import display_url

from .client import LangfuseClient
from .judging import LangfuseBodyFetcher, LangfuseScoreWriter
from .ratelimit import RateLimiter
from .scores import LangfuseScoreSource
from .settings import LangfuseOptions, parse_options
from .sinks import LangfuseDatasetSink, LangfuseQueueSink, ensure_score_config
from .source import CountNotSupported, LangfuseTraceSource


class LangfuseConnector:
    name = "langfuse"

    def __init__(self, client: LangfuseClient) -> None:
        self.client = client
        self.options = client.options
        self._source = LangfuseTraceSource(client)
        # One sink per (kind, name): its listing of what is stored is read once per process.
        self._sinks: dict[tuple[SinkKind, str], SampleSink] = {}
        self.labels: tuple[HumanLabel, ...] = ()
        self._project_id: str | None = None

    def trace_source(self) -> LangfuseTraceSource:
        return self._source

    def sample_sink(self, kind: SinkKind | str, name: str) -> SampleSink:
        kind = SinkKind(kind)
        if not name:
            raise ConfigError("expected a non-empty name", field=f"sink.{kind.value}")
        sink = self._sinks.get((kind, name))
        if sink is None:
            if kind is SinkKind.DATASET:
                sink = LangfuseDatasetSink(self.client, name)
            else:
                sink = LangfuseQueueSink(self.client, name, journal=self.options.queue_journal, labels=self.labels)
            self._sinks[(kind, name)] = sink
        return sink

    def ensure_labels(self, labels: Sequence[HumanLabel]) -> list[str]:
        """A score config per declared label, created when missing; an annotation queue this
        connector creates offers exactly those configs to its reviewers. The names created."""
        self.labels = tuple(labels)
        return [label.name for label in labels if ensure_score_config(self.client, label)[1]]

    def trace_url(self, trace_id: str) -> str | None:
        """The trace's page under the key's project (`project` is only a label, not the id), without
        credentials; None when the key sees no project (the id alone is listed)."""
        try:
            page = self.project_url()
        except (FatalSourceError, RetriableSourceError):
            self._project_id = ""  # a list without links beats no list; asked once per run
            return None
        return f"{page}/traces/{trace_id}" if page else None

    def project_url(self) -> str | None:
        """The project's page in the Langfuse UI (`<base>/project/<id>`, no credentials); the id is asked
        once of `GET /api/public/projects`, which answers a project-scoped key with its project."""
        if self._project_id is None:
            projects = self.client.call("general", "get the key's project", self.client.api.projects.get)
            self._project_id = projects.data[0].id if projects.data else ""
        return f"{display_url(self.options.base_url)}/project/{self._project_id}" if self._project_id else None

    def review_url(self, window: Window, marker: str | None = None) -> str | None:
        return None  # the annotation queue is the reviewers' list (in the order its items were added)

    def score_source(self) -> LangfuseScoreSource:
        return LangfuseScoreSource(self.client)

    def body_fetcher(self) -> LangfuseBodyFetcher:
        return LangfuseBodyFetcher(self.client)

    def score_writer(self) -> LangfuseScoreWriter:
        return LangfuseScoreWriter(self.client)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> LangfuseConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create(
    options: Mapping[str, object],
    *,
    env: Mapping[str, str] | None = None,
    limiter: RateLimiter | None = None,
    retry_policy: RetryPolicy | None = None,
    sleep: SleepFn | None = None,
) -> LangfuseConnector:
    """Validate `options` (and that the key variables are set) before any request."""
    parsed = parse_options(options, env)
    return LangfuseConnector(LangfuseClient(parsed, limiter=limiter, retry_policy=retry_policy, sleep=sleep))


__all__ = [
    "CountNotSupported",
    "LangfuseConnector",
    "LangfuseOptions",
    "RateLimiter",
    "create",
]

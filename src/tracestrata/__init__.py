"""tracestrata: stratified, failure-oversampled sampling of LLM traces with honest reweighted estimates."""

from tracestrata.design import Cell, CellKind, Design, Unit
from tracestrata.errors import (
    AuthError,
    ConfigError,
    EstimationError,
    ExitCode,
    FatalSourceError,
    InputError,
    LockedError,
    RetriableSourceError,
    SourceError,
    StateError,
    TracestrataError,
)
from tracestrata.protocols import (
    Connector,
    SampleItem,
    SampleSink,
    ScoreSource,
    SinkKind,
    TraceSource,
    Window,
    WriteResult,
    item_id_for,
)
from tracestrata.record import Score, SourceRef, TraceRecord

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "Cell",
    "CellKind",
    "ConfigError",
    "Connector",
    "Design",
    "EstimationError",
    "ExitCode",
    "FatalSourceError",
    "InputError",
    "LockedError",
    "RetriableSourceError",
    "SampleItem",
    "SampleSink",
    "Score",
    "ScoreSource",
    "SinkKind",
    "SourceError",
    "SourceRef",
    "StateError",
    "TraceRecord",
    "TraceSource",
    "Unit",
    "Window",
    "WriteResult",
    "item_id_for",
]

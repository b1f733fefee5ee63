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

# The library's main entry points, imported on first use so that `import tracestrata`
# (and the CLI's --help) does not pay for numpy/scipy until they are needed.
_LAZY: dict[str, str] = {
    "DictColumn": "tracestrata.columns",
    "IntervalMethod": "tracestrata.intervals",
    "LonelyCell": "tracestrata.estimators",
    "Manifest": "tracestrata.manifest",
    "Policy": "tracestrata.policy",
    "Report": "tracestrata.report",
    "SampleResult": "tracestrata.samplers",
    "SampledTrace": "tracestrata.samplers",
    "StratifiedEstimator": "tracestrata.estimators",
    "StringColumn": "tracestrata.columns",
    "SyncOutcome": "tracestrata.sync",
    "build_report": "tracestrata.report",
    "design_from_ledger": "tracestrata.ledger",
    "load_config": "tracestrata.config",
    "load_policy": "tracestrata.policy",
    "parse_policy": "tracestrata.policy",
    "read_sample_dir": "tracestrata.manifest",
    "run_sync": "tracestrata.sync",
    "sample_columns": "tracestrata.samplers",
    "sample_records": "tracestrata.samplers",
    "write_sample_dir": "tracestrata.manifest",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracestrata' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "AuthError",
    "Cell",
    "CellKind",
    "ConfigError",
    "Connector",
    "Design",
    "DictColumn",
    "EstimationError",
    "ExitCode",
    "FatalSourceError",
    "InputError",
    "IntervalMethod",
    "LockedError",
    "LonelyCell",
    "Manifest",
    "Policy",
    "Report",
    "RetriableSourceError",
    "SampleItem",
    "SampleResult",
    "SampleSink",
    "SampledTrace",
    "Score",
    "ScoreSource",
    "SinkKind",
    "SourceError",
    "SourceRef",
    "StateError",
    "StratifiedEstimator",
    "StringColumn",
    "SyncOutcome",
    "TraceRecord",
    "TraceSource",
    "Unit",
    "Window",
    "WriteResult",
    "build_report",
    "design_from_ledger",
    "item_id_for",
    "load_config",
    "load_policy",
    "parse_policy",
    "read_sample_dir",
    "run_sync",
    "sample_columns",
    "sample_records",
    "write_sample_dir",
]

"""tracestrata: stratified, failure-oversampled sampling of LLM traces with honest reweighted estimates."""

from tracestrata.design import Cell, CellKind, Design, ProxyTotals, Unit
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
    "IntervalMethod": "tracestrata.estimate.intervals",
    "LonelyCell": "tracestrata.estimate.estimators",
    "Manifest": "tracestrata.sampling.manifest",
    "Policy": "tracestrata.policy.parse",
    "Report": "tracestrata.estimate.report",
    "SampleResult": "tracestrata.sampling.sample_result",
    "SampledTrace": "tracestrata.sampling.sample_result",
    "StratifiedEstimator": "tracestrata.estimate.estimators",
    "StringColumn": "tracestrata.columns",
    "SyncOutcome": "tracestrata.job.sync",
    "Tuning": "tracestrata.estimate.proxy",
    "build_report": "tracestrata.estimate.report",
    "design_from_ledger": "tracestrata.job.ledger",
    "load_config": "tracestrata.job.config",
    "load_policy": "tracestrata.policy.parse",
    "parse_policy": "tracestrata.policy.parse",
    "read_sample_dir": "tracestrata.sampling.manifest",
    "run_sync": "tracestrata.job.sync",
    "sample_frame": "tracestrata.sampling.frames",
    "sample_columns": "tracestrata.sampling.samplers",
    "sample_records": "tracestrata.sampling.samplers",
    "write_sample_dir": "tracestrata.sampling.manifest",
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
    "ProxyTotals",
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
    "Tuning",
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
    "sample_frame",
    "sample_records",
    "write_sample_dir",
]

"""The sync config: one TOML file naming source, policy, windows, sinks, scores, reports, state.

Every key is documented in `docs/sync.md`. Loading is strict: an unknown key or a
wrong type is a `ConfigError` naming the file, the key path and, when we can find
it, the line. Relative paths are relative to the config file's folder, so a
config and its policy can move together.

Credentials never appear in the config, only the *names* of environment variables
(`api_key_env = "PHOENIX_API_KEY"`); a source option that looks like a secret
(`api_key`, `token`, `password`, `secret`) is refused with a hint.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from tracestrata.errors import ConfigError
from tracestrata.io.retry import RetryPolicy
from tracestrata.io.tomlfile import TOMLTable, TOMLValue, key_line, key_path, read_toml
from tracestrata.job.windows import parse_duration
from tracestrata.record import parse_timestamp
from tracestrata.redaction import redact_url_credentials, register_env, register_url

if TYPE_CHECKING:  # loaded where used: numpy is not imported by --help
    from tracestrata.protocols import HumanLabel
    from tracestrata.policy.model import Policy

V = TypeVar("V")
Resolve = Callable[[str], Path]
"""A path written in the config made absolute against the config's folder."""

REPORT_FORMATS = ("json", "md", "html")
CONNECTOR_RETRY_KEYS = frozenset({"retry_attempts", "retry_seconds", "retry_initial"})
"""Connector options replaced, under sync, by the config's one `[retry]` policy."""
TEMPLATE_FIELDS = ("date", "window_start", "window_end", "window", "source", "policy")
NOT_IDENTITY = frozenset({
    # how scores are read back
    "score_level", "score_identifier", "scores_path", "trace_ids_per_request", "ids_per_request",
    # where samples are written and what the reviewer sees
    "review_annotation", "score_config", "score_config_type", "queue_journal_path", "sink_dir",
    # how requests are paced
    "timeout", "chunk_seconds", "page_limit", "page_size", "rate_limits",
})
"""`[source]` options that do not decide which traces the source holds: changing one keeps the
job's identity in the state (nothing is sampled again). Everything else — the type, base URL,
project, path, filters — is the identity."""
_OPTION_PART = re.compile(r"&(?=[A-Za-z0-9_]+=)")
_SECRET_KEY = re.compile(r"(^|_)(api_?key|key|token|secret|password|passwd|credentials?)$", re.IGNORECASE)


def _float_if_int(value: V) -> V | float:
    """A TOML integer where a float is expected, as the float (a bool stays a bool, to be refused)."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _duration(value: str) -> str:
    parse_duration(value)
    return value


class WindowModel(_Strict):
    every: str = "1h"
    settle: str = "15m"
    start: str | datetime
    max_windows_per_run: int = Field(default=24, ge=1)
    late_check: int = Field(default=1, ge=0)

    _every = field_validator("every", "settle")(_duration)

    @field_validator("every")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_duration(value).total_seconds() <= 0:
            raise ValueError("must be a positive duration, e.g. 1h")
        return value

    @field_validator("start")
    @classmethod
    def _start(cls, value: str | datetime) -> str | datetime:
        parse_timestamp(value)
        return value


class SinkModel(_Strict):
    dataset: str = "tracestrata-{date}"
    queue: str | None = None
    batch_size: int = Field(default=100, ge=1)

    @field_validator("dataset", "queue")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must not be empty")
        for _, name, spec, conversion in string.Formatter().parse(value):
            if name is not None and name not in TEMPLATE_FIELDS:
                raise ValueError(f"unknown placeholder {{{name}}}; use one of {', '.join(TEMPLATE_FIELDS)}")
            if spec or conversion:
                raise ValueError(f"placeholders take no format or conversion: write {{{name}}}")
        return value


class ScoresModel(_Strict):
    names: list[str] = Field(default_factory=list)
    metric: str | None = None
    proxy: str | None = None  # a score on every trace of the window, filled into `scores.<proxy>` before sampling

    @field_validator("metric", "proxy")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must name a score, not be empty")
        return value

    @field_validator("names")
    @classmethod
    def _all_named(cls, value: list[str]) -> list[str]:
        if any(not name.strip() for name in value):
            raise ValueError("every name must be a score's name, not empty")
        return value


class LabelModel(_Strict):
    """`[[label]]`: a human label reviewers set in the backend's UI (sync creates its config there)."""

    name: str = Field(min_length=1)
    kind: Literal["boolean", "categorical", "continuous"] = "boolean"
    values: list[str] | dict[str, float] | None = None  # categorical: labels, or label = score
    min: float | None = None  # continuous: bounds
    max: float | None = None
    description: str = ""
    judge: str | None = None  # the judge score it calibrates: the report gives the two-phase estimate

    _number = field_validator("min", "max", mode="before")(_float_if_int)

    @field_validator("values", mode="before")
    @classmethod
    def _scores(cls, value: V) -> V | dict[str, object]:
        if isinstance(value, dict):
            return {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in value.items()}
        return value


class ReportModel(_Strict):
    dir: str = "reports"
    period: str = "7d"
    formats: list[Literal["json", "md", "html"]] = Field(default_factory=lambda: list(REPORT_FORMATS))
    confidence: float = Field(default=0.95, gt=0, lt=1)
    proxy: str | None = None  # `report --proxy` for the periodic report: a [[proxy]] field or score:NAME
    metrics: list[str] | None = None  # every metric reported each run (default: [scores] metric)
    evaluator: str | None = None  # an [[evaluator]] of the policy: its own scores reported beside (docs/evaluators.md)
    by: Literal["day", "window", "none"] = "day"  # the report's trend (docs/trends.md)
    ui_url: str | None = None  # the project's page in the backend UI: strata link to their filtered view

    _period = field_validator("period")(_duration)


class RetryModel(_Strict):
    attempts: int = Field(default=5, ge=1)
    total_seconds: float = Field(default=60.0, ge=0)
    initial: float = Field(default=0.5, ge=0)
    max_wait: float = Field(default=20.0, ge=0)

    _number = field_validator("total_seconds", "initial", "max_wait", mode="before")(_float_if_int)


class AlertModel(_Strict):
    failing_after: int = Field(default=3, ge=1)
    stale_after: str | None = None
    watch: list[str] = Field(default_factory=list)  # metrics watched for a change (docs/trends.md)
    alpha: float = Field(default=0.05, gt=0, lt=1)  # chance of any false alarm over `horizon` days
    horizon: int = Field(default=90, ge=1)  # daily looks the false-alarm rate is stated over

    @field_validator("stale_after")
    @classmethod
    def _stale(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)


class JudgeModel(_Strict):
    """`[judge]`: run a judge on the sample after writing it, before reading scores back (docs/judge.md)."""

    judge: str  # module:function, phoenix-evals:module:evaluator, a judge TOML file, or "llm" ([judge.llm])
    name: str  # the score name: a trace with a score of this name is judged already
    version: str | None = None
    concurrency: int = Field(default=8, ge=1, le=512)
    timeout: float = Field(default=60.0, gt=0)
    max_calls_per_run: int | None = Field(default=None, ge=0)
    max_calls_per_day: int | None = Field(default=None, ge=0)
    cost_per_call: float | None = Field(default=None, ge=0)
    review: bool = True  # also judge the review subsample: two-phase needs the judge's verdict on what people label
    llm: dict[str, object] | None = None  # [judge.llm], checked by tracestrata.judging.llm

    _number = field_validator("timeout", "cost_per_call", mode="before")(_float_if_int)

    @field_validator("name", "judge")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class SyncModel(_Strict):
    state: str
    source: dict[str, object]  # [source]: its options are the connector's to check
    policy: str | dict[str, object]  # a policy file, or the [policy] table (checked by parse_policy)
    window: WindowModel
    sink: SinkModel = Field(default_factory=SinkModel)
    scores: ScoresModel = Field(default_factory=ScoresModel)
    report: ReportModel = Field(default_factory=ReportModel)
    retry: RetryModel = Field(default_factory=RetryModel)
    alert: AlertModel = Field(default_factory=AlertModel)
    label: list[LabelModel] = Field(default_factory=list)
    judge: JudgeModel | None = None


@dataclass(frozen=True)
class SyncConfig:
    """The validated config, paths resolved, policy loaded."""

    path: Path
    state: Path
    source_type: str
    source_options: Mapping[str, TOMLValue]
    policy: Policy
    start: datetime
    every: timedelta
    settle: timedelta
    max_windows_per_run: int
    late_check: int
    dataset: str
    queue: str | None
    batch_size: int
    score_names: tuple[str, ...]
    metric: str | None
    report_dir: Path
    report_period: timedelta
    report_formats: tuple[str, ...]
    confidence: float
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    proxy_score: str | None = None
    report_proxy: str | None = None
    report_evaluator: str | None = None  # `[report] evaluator`: a policy [[evaluator]] reported from its own scores
    failing_after: int = 3  # consecutive failed runs before sync exits 6 (failing)
    stale_after: timedelta | None = None  # `status`: no success for this long is stale (default: 2 windows + settle)
    labels: tuple[HumanLabel, ...] = ()  # from [[label]]
    label_judges: Mapping[str, str] = field(default_factory=dict)  # label name -> the judge score it calibrates
    report_metrics: tuple[str, ...] = ()  # [report] metrics (default: the one metric)
    judge: JudgeModel | None = None  # `[judge]`, its `judge` path resolved against the config's folder
    watch: tuple[str, ...] = ()  # [alert] watch: metrics watched for a change
    alert_alpha: float = 0.05
    alert_horizon: int = 90
    report_by: str | None = "day"  # the report's trend: day, window or None
    report_ui_url: str | None = None

    @property
    def stale_limit(self) -> timedelta:
        return self.stale_after or (2 * self.every + self.settle)

    @property
    def secret_env_vars(self) -> tuple[str, ...]:
        """Names of the environment variables holding credentials (never their values)."""
        names = [str(v) for k, v in self.source_options.items() if k.endswith("_env") and isinstance(v, str)]
        if self.judge is not None and self.judge.llm and isinstance(self.judge.llm.get("api_key_env"), str):
            names.append(self.judge.llm["api_key_env"])
        return tuple(names)

    def source_key(self) -> str:
        """Identifies the source in the state store: what decides which traces it holds (the type
        and every option but credentials and `NOT_IDENTITY`), so read-back options never fork a job."""
        return source_identity(self.legacy_source_key())

    def legacy_source_key(self) -> str:
        """The key versions before 0.2 used: type plus every non-credential option."""
        parts = [
            f"{k}={redact_url_credentials(str(v))}"  # never a password or a key embedded in a URL
            for k, v in sorted(self.source_options.items())
            if not k.endswith("_env")
        ]
        return self.source_type + ("?" + "&".join(parts) if parts else "")

    def check_credentials(self) -> None:
        """Every `*_env` option must name a set environment variable (the value is never read here)."""
        for key, name in sorted(self.source_options.items()):
            if key.endswith("_env") and isinstance(name, str) and not os.environ.get(name):
                raise ConfigError(
                    f"environment variable {name} is not set (it should hold the credential)",
                    path=str(self.path),
                    field=f"source.{key}",
                )


def source_identity(key: str) -> str:
    """A stored source key without its `NOT_IDENTITY` options (how an older key is matched)."""
    kind, _, query = key.partition("?")
    parts = [p for p in _OPTION_PART.split(query) if p and p.split("=", 1)[0] not in NOT_IDENTITY]
    return kind + ("?" + "&".join(parts) if parts else "")


def _proxy_score(name: str | None, policy: Policy, *, path: Path, text: str) -> str | None:
    """`[scores] proxy`: the policy must record it (`[[proxy]] field = "scores.<name>"`)."""
    if name is None:
        return None
    if f"scores.{name}" not in policy.proxies:
        raise ConfigError(
            f"the policy has no [[proxy]] field = \"scores.{name}\" to record it",
            path=str(path),
            line=_find_line(text, ["scores", "proxy"]),
            field="scores.proxy",
        )
    return name


def _report_proxy(value: str | None, policy: Policy, *, path: Path, text: str) -> str | None:
    """`[report] proxy`: `score:NAME` (two-phase), or a field the policy records (`[[proxy]]`)."""
    if value is None:
        return None
    text_value = value.strip()
    if text_value.startswith("score:") and text_value[len("score:"):].strip():
        return text_value
    if text_value in policy.proxies:
        return text_value
    raise ConfigError(
        f"expected score:NAME or a field the policy records with [[proxy]] (it has: "
        f"{', '.join(policy.proxies) or 'none'}), got {value!r}",
        path=str(path),
        line=_find_line(text, ["report", "proxy"]),
        field="report.proxy",
    )


def _report_evaluator(name: str | None, policy: Policy, *, path: Path, text: str) -> str | None:
    """`[report] evaluator`: the policy must declare it (`[[evaluator]] name = ...`)."""
    if name is None:
        return None
    try:
        policy.evaluator(name)
    except ConfigError as exc:
        raise ConfigError(exc.message, path=str(path), line=_find_line(text, ["report", "evaluator"]),
                          field="report.evaluator") from None
    return name


def load_config(path: str | Path) -> SyncConfig:
    """Read and validate a sync config; `ConfigError` (file, key path, line) on any problem."""
    data, text = read_toml(path, what="config file")
    return parse_config(data, path=Path(path), text=text)


def parse_config(data: Mapping[str, TOMLValue], *, path: Path, text: str = "") -> SyncConfig:
    model = _validate(data, path=path, text=text)
    resolve = _resolver(path)
    source_type, source = _source_options(model, path=path, text=text, resolve=resolve)
    policy = _policy_of(model, path=path, text=text, resolve=resolve)
    window = model.window
    retry = model.retry
    _check_period(policy, parse_duration(window.every), path=path, text=text)
    labels = _labels(model.label, path=path, text=text)
    label_names = tuple(label.name for label in labels)
    judges = {m.name: m.judge for m in model.label if m.judge}
    score_names = tuple(model.scores.names or ([model.scores.metric] if model.scores.metric else []))
    score_names = tuple(dict.fromkeys([*score_names, *judges.values(), *label_names]))
    metric = model.scores.metric or (model.scores.names[0] if model.scores.names else None)
    return SyncConfig(
        path=path,
        state=resolve(model.state),
        source_type=source_type,
        source_options=source,
        policy=policy,
        start=parse_timestamp(window.start),
        every=parse_duration(window.every),
        settle=parse_duration(window.settle),
        max_windows_per_run=window.max_windows_per_run,
        late_check=window.late_check,
        dataset=model.sink.dataset,
        queue=model.sink.queue,
        batch_size=model.sink.batch_size,
        score_names=score_names,
        metric=metric or (label_names[0] if label_names else None),
        proxy_score=_proxy_score(model.scores.proxy, policy, path=path, text=text),
        report_dir=resolve(model.report.dir),
        report_period=parse_duration(model.report.period),
        report_formats=tuple(dict.fromkeys(model.report.formats)),
        confidence=model.report.confidence,
        report_proxy=_report_proxy(model.report.proxy, policy, path=path, text=text),
        report_evaluator=_report_evaluator(model.report.evaluator, policy, path=path, text=text),
        retry=RetryPolicy(
            attempts=retry.attempts,
            total_seconds=retry.total_seconds,
            initial=retry.initial,
            max_wait=retry.max_wait,
        ),
        failing_after=model.alert.failing_after,
        stale_after=parse_duration(model.alert.stale_after) if model.alert.stale_after else None,
        labels=labels,
        label_judges=judges,
        report_metrics=tuple(dict.fromkeys(model.report.metrics or ([metric] if metric else label_names[:1]))),
        judge=_judge(model.judge, resolve),
        watch=_watched(model, path=path, text=text),
        alert_alpha=model.alert.alpha,
        alert_horizon=model.alert.horizon,
        report_by=None if model.report.by == "none" else model.report.by,
        report_ui_url=model.report.ui_url,
    )


def _validate(data: Mapping[str, TOMLValue], *, path: Path, text: str) -> SyncModel:
    """The config's tables checked for unknown keys and types; `ConfigError` naming the first problem."""
    try:
        return SyncModel.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        key = ".".join(loc)
        message = _pydantic_message(first)
        raise ConfigError(message, path=str(path), line=_find_line(text, loc), field=key or None) from None


def _resolver(path: Path) -> Resolve:
    base = path.absolute().parent

    def resolve(value: str) -> Path:
        """Absolute and normalised, so the state keys a source the same however the config was named."""
        candidate = Path(value).expanduser()
        return Path(os.path.normpath(candidate if candidate.is_absolute() else base / candidate))

    return resolve


def _source_options(model: SyncModel, *, path: Path, text: str, resolve: Resolve) -> tuple[str, TOMLTable]:
    """`[source]`: its connector type and options, paths resolved, secrets refused, URLs and
    variable names registered for redaction."""
    source = dict(model.source)
    source_type = source.pop("type", None)
    if not isinstance(source_type, str) or not source_type:
        raise ConfigError(
            "missing: name the connector, e.g. type = \"files\"",
            path=str(path),
            line=_find_line(text, ["source"]),
            field="source.type",
        )
    for key, value in list(source.items()):
        where = {"path": str(path), "line": _find_line(text, ["source", key]), "field": f"source.{key}"}
        if _SECRET_KEY.search(key) and not key.endswith("_env"):
            raise ConfigError(
                f"secrets do not belong in the config: put it in an environment variable and set {key}_env = \"VAR_NAME\"",
                **where,  # type: ignore[arg-type]
            )
        if key in CONNECTOR_RETRY_KEYS:
            raise ConfigError(
                "sync retries every connector under the [retry] table: set attempts/total_seconds/initial there",
                **where,  # type: ignore[arg-type]
            )
        if key.endswith("_env") and not (isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)):
            raise ConfigError("expected the name of an environment variable", **where)  # type: ignore[arg-type]
        if key.endswith("_env") and isinstance(value, str):
            register_env([value])  # its value is hidden in every line from now on
        if isinstance(value, str) and "://" in value:
            register_url(value)
        if isinstance(value, str) and (key == "path" or key.endswith(("_path", "_dir"))) and "://" not in value:
            source[key] = str(resolve(value))
    return source_type, source


def _policy_of(model: SyncModel, *, path: Path, text: str, resolve: Resolve) -> Policy:
    """The policy file or inline `[policy]` table, loaded; an inline error points at this file's line."""
    try:
        return _load_policy(model.policy, path=path, resolve=resolve)
    except ConfigError as exc:
        if isinstance(model.policy, dict):  # inline: point at the line in this file
            key = ["policy", *(exc.field.split(".") if exc.field else [])]
            exc.path, exc.field = str(path), ".".join(key)
            exc.line = _find_line(text, key) or _find_line(text, key[:-1]) or _find_line(text, ["policy"])
        raise


def _labels(models: Sequence[LabelModel], *, path: Path, text: str) -> tuple[HumanLabel, ...]:
    """`[[label]]` tables as `HumanLabel`s; a categorical label needs its values, a continuous one its bounds."""
    from tracestrata.protocols import HumanLabel, LabelKind

    out = []
    seen: set[str] = set()
    for i, m in enumerate(models):
        def bad(message: str, key: str) -> ConfigError:
            return ConfigError(message, path=str(path), line=_find_line(text, ["label", i, key])
                               or _find_line(text, ["label"]), field=f"label.{i}.{key}")

        if m.name in seen:
            raise bad(f"label {m.name!r} is declared twice", "name")
        seen.add(m.name)
        kind = LabelKind(m.kind)
        values: tuple[tuple[str, float], ...] = ()
        if kind is LabelKind.CATEGORICAL:
            if not m.values:
                raise bad('a categorical label lists its values, e.g. values = ["pass", "minor", "fail"]', "values")
            pairs = m.values.items() if isinstance(m.values, dict) else (
                (label, float(len(m.values) - 1 - n)) for n, label in enumerate(m.values))
            values = tuple((str(label), float(score)) for label, score in pairs)
        elif m.values is not None:
            raise bad(f"only a categorical label has values (this one is {m.kind})", "values")
        if kind is LabelKind.CONTINUOUS:
            if m.min is None or m.max is None or m.min >= m.max:
                raise bad("a continuous label has bounds min < max, e.g. min = 1 and max = 5", "max")
        elif m.min is not None or m.max is not None:
            raise bad(f"only a continuous label has bounds (this one is {m.kind})", "min" if m.min is not None else "max")
        out.append(HumanLabel(m.name, kind, values, m.min, m.max, m.description))
    return tuple(out)


def _judge(model: JudgeModel | None, resolve: Resolve) -> JudgeModel | None:
    """`[judge]` with a judge TOML file's path made absolute (relative to the config's folder)."""
    if model is None or not model.judge.strip().endswith(".toml"):
        return model
    return model.model_copy(update={"judge": str(resolve(model.judge.strip()))})


def _watched(model: SyncModel, *, path: Path, text: str) -> tuple[str, ...]:
    """`[alert] watch`: metrics the job reads back (`[scores] names` or `metric`)."""
    read = set(model.scores.names) | ({model.scores.metric} if model.scores.metric else set())
    for i, name in enumerate(model.alert.watch):
        if name not in read:
            raise ConfigError(
                f"{name!r} is not a score the job reads; add it to [scores] names",
                path=str(path), line=_find_line(text, ["alert", "watch", i]), field="alert.watch",
            )
    return tuple(dict.fromkeys(model.alert.watch))


def _check_period(policy: Policy, every: timedelta, *, path: Path, text: str) -> None:
    """Daily targets (`[targets] per = "day"`) are split over windows of at most a day."""
    if policy.targets.per.value == "day" and every > timedelta(days=1):
        raise ConfigError(
            "the policy's targets are per day ([targets] per = \"day\"), so windows must be at most 1d long",
            path=str(path),
            line=_find_line(text, ["window", "every"]),
            field="window.every",
        )


def _load_policy(value: str | dict[str, object], *, path: Path, resolve: Resolve) -> Policy:
    from tracestrata.policy.parse import load_policy, parse_policy

    if isinstance(value, str):
        return load_policy(resolve(value))
    return parse_policy(value, source=f"{path} [policy]")


def _pydantic_message(error: ErrorDetails) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing"
    msg = str(error.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    value = error.get("input")
    if kind.endswith("_type") or kind in ("string_type", "int_type", "float_type", "bool_type", "list_type", "dict_type"):
        return f"{msg[0].lower()}{msg[1:]}, got {type(value).__name__} {value!r}"
    return msg[0].lower() + msg[1:] if msg else "invalid"


def _find_line(text: str, loc: Sequence[str | int]) -> int | None:
    return key_line(text.splitlines(), key_path(loc)) if text and loc else None


def now_utc() -> datetime:
    return datetime.now(UTC)


__all__ = ["NOT_IDENTITY", "REPORT_FORMATS", "TEMPLATE_FIELDS", "SyncConfig", "load_config", "parse_config", "source_identity"]

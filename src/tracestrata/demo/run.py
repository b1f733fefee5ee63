"""`tracestrata demo`: the whole loop on a local Phoenix, end to end.

1. start Phoenix on 127.0.0.1 (or use the one at `PHOENIX_BASE_URL`);
2. seed a synthetic day: a 0.5% compliance slice, a few percent failures, user
   feedback and a cheap heuristic score (the proxy) as trace annotations;
3. `sync`: pull (the heuristic filled on every trace) -> sample -> dataset + review annotations;
4. play the LLM judge on the sampled traces through the judge runner (annotations `correct`,
   `quality`, `verdict`, kind LLM);
5. `sync` again: read the scores back, write the report;
6. print the report (proxy-assisted beside the plain estimate) next to the naive mean and the
   synthetic truth, and where to look in Phoenix.

Each phase is timed; `DemoResult.timings` is what the benchmark reports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx

from tracestrata.connectors.phoenix.settings import resolve_base_url
from tracestrata.connectors.phoenix.ui import filtered_traces_url, sample_filter, stratum_filter
from tracestrata.demo.phoenix_server import (
    PhoenixServer,
    seed_records,
    seed_span_labels,
    start_server,
)
from tracestrata.errors import FatalSourceError
from tracestrata.estimate.report import ReportJSON
from tracestrata.job.config import JudgeModel, SyncConfig, load_config
from tracestrata.job.logs import SyncLog
from tracestrata.job.judge_step import run_judge_step
from tracestrata.job.state import State
from tracestrata.job.sync import SyncOutcome, load_connector, run_sync
from tracestrata.judging import JudgeOutcome
from tracestrata.judging.callable import FunctionJudge
from tracestrata.judging.simulator import SIMULATOR, SimulatedJudge
from tracestrata.record import JSONValue, Score, TraceRecord, format_timestamp
from tracestrata.redaction import display_url, normalize_url, register_url
from tracestrata.synthetic import default_day, generate_traces, human_label, population_truth

Echo = Callable[[str], None]
METRICS = ("correct", "quality", "verdict")

POLICY = """\
# The demo's policy: stratify by intent, oversample failures 4x, boost the refund cluster.
seed = "demo"

[[strata]]
field = "metadata.intent"
top = 8

[targets]
default = {target}

[failure]
multiplier = 4

[[failure.signals]]
name = "error"
field = "status"
equals = "error"

[[failure.signals]]
name = "refusal"
field = "metadata.refusal"
equals = true

[[failure.signals]]
name = "thumbs_down"
field = "scores.user_feedback"
equals = 0

[[boost]]
name = "refund-loop"
field = "metadata.intent"
equals = "refund"
collect = 40

# A cheap score on every trace: its totals per cell make the report's interval narrower.
[[proxy]]
field = "scores.heuristic"

# Humans review a random subsample of the sample, not the traces they pick: {review} per stratum.
[review]
target = {review}
"""

CONFIG = """\
# Written by `tracestrata demo`. Run it yourself: tracestrata sync --config {config}
state = "state.sqlite"
policy = "policy.toml"

[source]
type = "phoenix"
{base_url_line}project = "{project}"
record_scores = ["user_feedback"]   # trace annotations the failure signal reads
{api_key_line}
[window]
every = "1d"
settle = "15m"
start = "{start}"

[sink]
dataset = "{project}-{{date}}"
queue = "review"
batch_size = 250

[scores]
names = ["correct", "quality", "verdict"]
metric = "correct"
proxy = "heuristic"                 # the heuristic annotation, read for every trace of the window

[report]
dir = "reports"
period = "30d"
proxy = "scores.heuristic"          # the report: proxy-assisted, with the plain estimate beside it
metrics = ["correct", "correct_human"]  # correct_human: two-phase, the judge's `correct` calibrated by reviewers

# What reviewers set in Phoenix's annotation panel (sync creates its annotation config).
[[label]]
name = "correct_human"
kind = "boolean"
description = "Is the answer correct? Decide from the trace, before looking at any judge score."
judge = "correct"
"""


@dataclass
class DemoResult:
    base_url: str
    project: str
    workdir: Path
    traces: int
    sampled: int
    report: ReportJSON
    truth: float
    dataset_url: str | None
    project_url: str | None
    trace_url: str | None
    timings: dict[str, float] = field(default_factory=dict)
    server: PhoenixServer | None = None


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - started


def run_demo(
    *,
    traces: int = 2500,
    workdir: Path | None = None,
    keep: bool = False,
    echo: Echo = print,
    target: int = 40,
    seed: int = 0,
) -> DemoResult:
    timings: dict[str, float] = {}
    workdir = Path(workdir) if workdir else Path.cwd() / ".tracestrata" / "demo"
    _clean(workdir)
    external = bool(os.environ.get("PHOENIX_BASE_URL"))
    server: PhoenixServer | None = None
    finished = False
    try:
        with _timed(timings, "start server"):
            if external:
                base_url, headers = _external_phoenix(echo)
            else:
                server, headers = _local_phoenix(workdir, keep, echo), {}
                base_url = server.base_url
        project = f"tracestrata-demo-{uuid.uuid4().hex[:6]}"
        day_start, day_end = default_day()
        records = _seed(base_url, project, (day_start, day_end), traces, seed, headers, external, echo, timings)
        config = _write_config(workdir, target, project, day_start, base_url, external, headers)
        log = SyncLog(secret_env=config.secret_env_vars)
        now = day_end + timedelta(hours=1) if day_end + timedelta(hours=1) > datetime.now(day_end.tzinfo) else None

        echo("\n$ tracestrata sync   # pull -> sample -> dataset + review annotations")
        with _timed(timings, "sync 1 (pull, sample, write)"):
            first = run_sync(config, now=now, log=log)
        sampled_ids = _sampled_ids(first, config.state)
        review_ids = _judge_and_review(config, now, base_url, headers, records, sampled_ids, echo, timings)

        echo("\n$ tracestrata sync   # read the judge's scores back, refresh the report")
        with _timed(timings, "sync 2 (scores, report)"):
            run_sync(config, now=now, log=log)
        with _timed(timings, "truth"):
            truth = float(population_truth(records, "correct"))  # type: ignore[arg-type]
        report_json = _show_report(config, truth, len(review_ids), echo)

        dataset_name = f"{project}-{day_start:%Y-%m-%d}"
        dataset_url, project_url, trace_url = _ui_urls(base_url, project, dataset_name, sampled_ids, headers)
        _show_links(config, dataset_url, project_url, trace_url, day_start, day_end, echo)
        _show_end(server, keep, timings, echo)
        finished = True
        return DemoResult(
            base_url=display_url(base_url),
            project=project,
            workdir=workdir,
            traces=traces,
            sampled=len(sampled_ids),
            report=report_json,
            truth=truth,
            dataset_url=dataset_url,
            project_url=project_url,
            trace_url=trace_url,
            timings=timings,
            server=server if keep else None,
        )
    finally:
        if server is not None and not (keep and finished):  # a failed demo never leaves a server behind
            server.stop()


def _clean(workdir: Path) -> None:
    """The work folder, without what an earlier demo left (its state and reports)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "reports"):
        path = workdir / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _external_phoenix(echo: Echo) -> tuple[str, dict[str, str]]:
    """`PHOENIX_BASE_URL`'s Phoenix (and `PHOENIX_API_KEY`'s header), checked reachable."""
    register_url(resolve_base_url())
    base_url = normalize_url(resolve_base_url())  # a password holding `/` or `@` parses
    key = os.environ.get("PHOENIX_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    echo(f"using Phoenix at {display_url(base_url)} (PHOENIX_BASE_URL)")
    _preflight(base_url)
    return base_url, headers


def _local_phoenix(workdir: Path, keep: bool, echo: Echo) -> PhoenixServer:
    """A fresh local Phoenix in `workdir/phoenix`; with `keep`, its pid noted for the next demo."""
    reset_local_phoenix(workdir / "phoenix", echo)
    echo(f"starting a local Phoenix in {workdir / 'phoenix'} (10-60 s, depending on the machine) ...")
    server = start_server(workdir / "phoenix", progress=lambda m: echo(f"  {m}"), die_with_parent=not keep)
    if keep:
        _server_file(workdir / "phoenix").write_text(json.dumps({"pid": server.process.pid if server.process else None}))
    return server


def _seed(
    base_url: str, project: str, day: tuple[datetime, datetime], traces: int, seed: int, headers: dict[str, str],
    external: bool, echo: Echo, timings: dict[str, float],
) -> list[TraceRecord]:
    """The synthetic day's traces, generated and written into `project`."""
    day_start, day_end = day
    with _timed(timings, "generate traffic"):
        records = list(generate_traces(traces, start=day_start, end=day_end, seed=seed, heuristic=True))
    compliance = sum(r.metadata.get("intent") == "compliance" for r in records)
    failures = sum(r.status == "error" for r in records)
    echo(
        f"seeding {traces} synthetic traces for {day_start:%Y-%m-%d} into project {project!r} "
        f"({compliance} compliance, {failures} errors) ..."
    )
    with _timed(timings, "seed traces"):
        try:
            seed_records(base_url, project, records, headers=headers, progress=lambda m: echo(f"  {m}"))
        except FatalSourceError as exc:
            if external and "duplicate" in str(exc):
                exc.message += f" -- an earlier demo seeded these synthetic ids into this Phoenix: rerun with --seed {seed + 1}"
                exc.args = (exc.message,)
            raise
    return records


def _write_config(
    workdir: Path, target: int, project: str, day_start: datetime, base_url: str, external: bool,
    headers: dict[str, str],
) -> SyncConfig:
    """The demo's policy and sync config, written into `workdir` and loaded."""
    config_path = workdir / "sync.toml"
    (workdir / "policy.toml").write_text(POLICY.format(target=target, review=max(2, target // 4)))
    api_key_line = 'api_key_env = "PHOENIX_API_KEY"\n' if headers else ""
    config_path.write_text(
        CONFIG.format(
            config=config_path,
            # an external Phoenix's URL (and its login) stays in PHOENIX_BASE_URL, out of the file
            base_url_line="" if external else f'base_url = "{base_url}"\n',
            project=project,
            start=format_timestamp(day_start),
            api_key_line=api_key_line,
        )
    )
    return load_config(config_path)


def _judge_and_review(
    config: SyncConfig, now: datetime | None, base_url: str, headers: dict[str, str], records: list[TraceRecord],
    sampled_ids: list[str], echo: Echo, timings: dict[str, float],
) -> list[str]:
    """Play the judge on the sample and the reviewers on its review subsample; the ids reviewed."""
    echo(f"\nplaying the LLM judge on the {len(sampled_ids)} sampled traces (annotations {', '.join(METRICS)}) ...")
    with _timed(timings, "judge"):
        echo(f"  {_judge_sample(config, now).line()}")

    review_ids = _review_ids(config.state)
    by_id = {r.id: r for r in records}
    echo(f"playing the reviewers on the {len(review_ids)} traces of the review subsample (correct_human, "
         "on the root span as Phoenix's annotation panel writes it) ...")
    with _timed(timings, "reviewers"):
        seed_span_labels(
            base_url,
            [(by_id[t].span_id, Score(t, "correct_human", human_label(by_id[t]))) for t in review_ids
             if by_id[t].span_id],
            headers=headers,
        )
    return review_ids


def _show_report(config: SyncConfig, truth: float, reviewed: int, echo: Echo) -> ReportJSON:
    """Print the job's report beside the synthetic truth (and the two-phase estimate); its JSON."""
    report_json: ReportJSON = json.loads((config.report_dir / "report.json").read_text())
    markdown = (config.report_dir / "report.md").read_text() if (config.report_dir / "report.md").exists() else ""
    echo("")
    echo(markdown.rstrip())
    echo("")
    _print_truth(report_json, truth, echo)
    two_phase = config.report_dir / "report-correct_human.json"
    if two_phase.exists():
        est = json.loads(two_phase.read_text()).get("estimate") or {}
        if est.get("mean") is not None and est.get("ci_low") is not None:
            echo(f"  with the reviewers   {100 * est['mean']:.1f}%  [{100 * est['ci_low']:.1f}%, "
                 f"{100 * est['ci_high']:.1f}%]  two-phase: the judge calibrated by {reviewed} "
                 "human labels (report-correct_human.md)")
    return report_json


def _show_links(
    config: SyncConfig, dataset_url: str | None, project_url: str | None, trace_url: str | None,
    day_start: datetime, day_end: datetime, echo: Echo,
) -> None:
    echo("\nWhere to look in Phoenix:")
    if dataset_url:
        echo(f"  dataset (the sample, with weights):   {dataset_url}")
    if project_url:
        echo(f"  traces of the demo project:           {project_url}")
        echo(f"    filter to the review subsample:     {sample_filter()}")
        echo(f"    (that page, already filtered:       {filtered_traces_url(project_url, sample_filter(), day_start, day_end)} )")
        echo(f"    one stratum / failures only:        {stratum_filter('<stratum>')}"
             " / .explanation == 'failure'")
    if trace_url:
        echo(f"  one sampled trace and its annotations: {trace_url}")
    echo(f"  for reviewers, in review order:       {config.report_dir / 'review.md'} (docs/phoenix.md#for-reviewers)")
    echo(f"  reports: {config.report_dir}/report.{{md,html,json}}   config: {config.path}")


def _show_end(server: PhoenixServer | None, keep: bool, timings: dict[str, float], echo: Echo) -> None:
    total = sum(timings.values())
    echo("\ntime: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()) + f"; total {total:.1f}s")
    if server is not None:
        if keep:
            echo(f"\nPhoenix keeps running at {server.base_url} (pid {server.process.pid if server.process else '?'}); "
                 f"stop it with: kill {server.process.pid if server.process else ''}")
        else:
            echo("\nstopping Phoenix (use --keep to leave it running)")


def _server_file(phoenix_dir: Path) -> Path:
    return phoenix_dir / "kept-server.json"


def reset_local_phoenix(phoenix_dir: Path, echo: Echo) -> None:
    """Start each demo on an empty local Phoenix, saying so: the synthetic day has the
    same trace and span ids every time (its truth depends on them), and Phoenix
    rejects ids it already stored, in any project."""
    info = _server_file(phoenix_dir)
    if info.exists():
        pid = json.loads(info.read_text() or "{}").get("pid")
        if isinstance(pid, int) and _is_phoenix(pid):
            echo(f"stopping the Phoenix an earlier `demo --keep` left running (pid {pid})")
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _is_phoenix(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
        info.unlink()
    if (phoenix_dir / "phoenix.db").exists():
        echo(f"resetting the demo's Phoenix in {phoenix_dir} (an earlier demo's traces have this run's ids)")
        shutil.rmtree(phoenix_dir)


def _is_phoenix(pid: int) -> bool:
    try:
        return b"phoenix.server.main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _preflight(base_url: str) -> None:
    """Fail with one clear line (unreachable, 401 -> set PHOENIX_API_KEY) before seeding anything."""
    from tracestrata.connectors.phoenix.client import PhoenixHTTP
    from tracestrata.connectors.phoenix.settings import load_settings

    http = PhoenixHTTP(load_settings({"base_url": base_url, "retry_attempts": 2, "retry_initial": 0.2}))
    try:
        http.request("GET", "/v1/projects", params={"limit": 1})
    finally:
        http.close()


def _judge_sample(config: SyncConfig, now: datetime | None) -> JudgeOutcome:
    """The simulated judge on every sampled trace, through the judge runner (trace annotations, kind LLM)."""
    judge = FunctionJudge(SimulatedJudge(coverage=1.0), name=SIMULATOR, workers=8)
    with State(config.state) as state:
        connector = load_connector(config)
        try:
            return run_judge_step(
                config, state, connector, now or datetime.now(UTC),
                judge_config=JudgeModel(judge=SIMULATOR, name=METRICS[0]), judge=judge, progress=False,
            )
        finally:
            connector.close()


def _sampled_ids(outcome: SyncOutcome, state_path: Path) -> list[str]:
    """Trace ids the sync sampled, in the ledger's order (what a judge job would read)."""
    from tracestrata.job.state import State

    with State(state_path) as state:
        runs = state.runs(None, status=None)
        return list(dict.fromkeys(t for _, t, _, _ in state.sampled([r.run_id for r in runs])))


def _review_ids(state_path: Path) -> list[str]:
    """Trace ids of the `[review]` subsample the sync drew (what reviewers are asked to label)."""
    from tracestrata.job.state import State

    with State(state_path) as state:
        runs = state.runs(None, status=None)
        return list(dict.fromkeys(t for _, t, _, a in state.sampled([r.run_id for r in runs]) if a.get("review")))


def _print_truth(report: ReportJSON, truth: float, echo: Echo) -> None:
    est = report.get("estimate") or {}
    plain = report.get("plain") or est
    naive = report.get("naive") or {}
    proxy = report.get("proxy") or {}

    def pct(x: JSONValue) -> str:
        return "n/a" if x is None else f"{100 * float(x):.1f}%"

    def interval(e: ReportJSON) -> str:
        low, high = e.get("ci_low"), e.get("ci_high")
        width = "" if low is None or high is None else f"  (±{50 * (float(high) - float(low)):.1f} pts)"
        return f"{pct(e.get('mean'))}  [{pct(low)}, {pct(high)}]{width}"

    echo("correct (share of traces the judge marks correct):")
    if proxy:
        worth = proxy.get("worth")
        gain = f", worth {worth:.0f} more judged traces" if isinstance(worth, float) and worth > 0 else ""
        echo(f"  with the proxy       {interval(est)}  ({proxy.get('field')} on every trace{gain})")
    echo(f"  reweighted estimate  {interval(plain)}  from {plain.get('n_scored')} judged traces")
    echo(f"  naive sample mean    {pct(naive.get('mean'))}  (ignores the oversampling of failures and rare slices)")
    echo(f"  synthetic truth      {pct(truth)}  (the judge run on every trace)")


def _ui_urls(
    base_url: str, project: str, dataset: str, sampled_ids: list[str], headers: dict[str, str]
) -> tuple[str | None, str | None, str | None]:
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
            project_id = client.get(f"/v1/projects/{quote(project, safe='')}").json()["data"]["id"]
            datasets = client.get("/v1/datasets", params={"name": dataset}).json()["data"]
            dataset_id = next((d["id"] for d in datasets if d["name"] == dataset), None)
    except (httpx.HTTPError, KeyError, ValueError):
        return None, None, None
    shown = display_url(base_url)  # printed: never the login
    dataset_url = f"{shown}/datasets/{dataset_id}/examples" if dataset_id else None
    project_url = f"{shown}/projects/{project_id}"
    trace_url = f"{shown}/projects/{project_id}/traces/{sampled_ids[0]}" if sampled_ids else None
    return dataset_url, project_url, trace_url


__all__ = ["DemoResult", "run_demo"]

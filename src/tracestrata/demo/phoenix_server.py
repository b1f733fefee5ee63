"""Run a real Phoenix server on 127.0.0.1 and seed it with traces.

Shared by the pytest fixtures (`tests/fixtures/phoenix_server.py`), `tracestrata
demo`, the cassette recorder and the benchmark (a launcher, not part of the Phoenix adapter), so all of them exercise the same
server the same way. The server runs as a child process on SQLite in a working
directory we own, with telemetry and external resources off.

Seeding posts one root span per trace to `POST /v1/projects/{p}/spans` (the
fastest ingest measured: the server's insert loop, ~190 spans/s, is the ceiling,
not the transport), retrying 503 "queue at capacity", then waits until every span
is stored.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from tracestrata.connectors.phoenix.judging import annotation_for_score
from tracestrata.errors import AuthError, FatalSourceError, RetriableSourceError
from tracestrata.record import JSONValue, Score, TraceRecord, format_timestamp

Progress = Callable[[str], None]

STARTUP_TIMEOUT_S = 120.0


@dataclass
class PhoenixServer:
    """A running Phoenix child process. `api_key` is set when auth is enabled."""

    base_url: str
    port: int
    grpc_port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None
    log_path: Path | None = None
    api_key: str | None = field(default=None, repr=False)
    admin_secret: str | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def stop(self, timeout: float = 5.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _secret(length: int = 48) -> str:
    # Phoenix wants >= 32 chars with at least one digit and one lowercase letter.
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(length - 2))
    return body + secrets.choice(string.digits) + secrets.choice(string.ascii_lowercase)


def start_server(
    workdir: Path,
    *,
    auth: bool = False,
    progress: Progress | None = None,
    timeout: float = STARTUP_TIMEOUT_S,
    die_with_parent: bool = True,
) -> PhoenixServer:
    """Start Phoenix in `workdir` on free loopback ports; return once `/healthz` answers.

    With `auth`, per-run secrets are generated and a system API key is created
    (returned in `api_key`, never printed). With `die_with_parent` (Linux) the
    server gets SIGTERM when this process dies, even by a signal that skips
    `atexit` (a test run killed by a timeout leaves no server behind);
    `tracestrata demo --keep` turns it off.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port, grpc_port = free_port(), free_port()
    while grpc_port == port:
        grpc_port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PHOENIX_", "OTEL_"))  # never inherit a user's server settings
    }
    env.update(
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_WORKING_DIR=str(workdir),
        PHOENIX_SQL_DATABASE_URL=f"sqlite:///{workdir / 'phoenix.db'}",
        PHOENIX_TELEMETRY_ENABLED="false",
        PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",
        PHOENIX_DISABLE_AGENT_ASSISTANT="true",
        PHOENIX_AGENTS_DISABLE_BASH="true",
    )
    admin_secret = None
    if auth:
        admin_secret = _secret()
        env.update(PHOENIX_ENABLE_AUTH="true", PHOENIX_SECRET=_secret(), PHOENIX_ADMIN_SECRET=admin_secret)
    log_path = workdir / "phoenix.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "phoenix.server.main", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None,  # noqa: PLW1509
        )
    finally:
        log.close()
    server = PhoenixServer(f"http://127.0.0.1:{port}", port, grpc_port, workdir, process, log_path)
    try:
        wait_healthy(server, timeout=timeout, progress=progress)
        if auth:
            server.admin_secret = admin_secret
            server.api_key = create_system_key(server.base_url, admin_secret or "")
    except BaseException:
        server.stop()
        raise
    return server


def _die_with_parent() -> None:
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not glibc: the atexit/fixture teardown still stops the server
        pass


def wait_healthy(server: PhoenixServer, *, timeout: float, progress: Progress | None = None) -> None:
    started = time.monotonic()
    last_note = 0.0
    with httpx.Client(timeout=2.0) as client:
        while True:
            elapsed = time.monotonic() - started
            if server.process is not None and server.process.poll() is not None:
                tail = _log_tail(server.log_path)
                raise RuntimeError(f"Phoenix exited with code {server.process.returncode} during start:\n{tail}")
            try:
                if client.get(f"{server.base_url}/healthz").status_code == 200:
                    if progress:
                        progress(f"Phoenix is up at {server.base_url} ({elapsed:.0f}s)")
                    return
            except httpx.TransportError:
                pass
            if elapsed > timeout:
                raise RuntimeError(f"Phoenix did not answer /healthz within {timeout:.0f}s:\n{_log_tail(server.log_path)}")
            if progress and elapsed - last_note >= 3:
                progress(f"starting Phoenix on {server.base_url} ... {elapsed:.0f}s")
                last_note = elapsed
            time.sleep(0.25)


def _log_tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def create_system_key(base_url: str, admin_secret: str) -> str:
    response = httpx.post(
        f"{base_url}/v1/system/api_keys",
        headers={"Authorization": f"Bearer {admin_secret}"},
        json={"data": {"name": "tracestrata-test", "description": "created per run"}},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["data"]["key"])


@contextmanager
def running_server(workdir: Path, *, auth: bool = False, progress: Progress | None = None) -> Iterator[PhoenixServer]:
    server = start_server(workdir, auth=auth, progress=progress)
    try:
        yield server
    finally:
        server.stop()


# --- seeding -----------------------------------------------------------------


def span_for_record(record: TraceRecord) -> dict[str, JSONValue]:
    """The root span (REST `createSpans` shape) that maps back to `record` through the connector.

    Phoenix trace ids are 32 hex chars and span ids 16; the record's id is used as
    given, so callers seed hex ids.
    """
    latency = record.latency_ms if record.latency_ms is not None else 0.0
    end = record.timestamp + timedelta(milliseconds=latency)
    attributes: dict[str, JSONValue] = {"openinference.span.kind": "CHAIN"}
    metadata = dict(record.metadata)
    if record.release is not None and "release" not in metadata:
        metadata["release"] = record.release
    if metadata:
        attributes["metadata"] = metadata
    if record.tags:
        attributes["tag.tags"] = list(record.tags)
    if record.user_id is not None:
        attributes["user.id"] = record.user_id
    if record.session_id is not None:
        attributes["session.id"] = record.session_id
    if record.version is not None:
        attributes["llm.model_name"] = record.version
    if record.cost is not None:
        attributes["llm.cost.total"] = record.cost
    span_id = record.span_id or root_span_id(record.id)
    return {
        "name": record.name or "trace",
        "context": {"trace_id": record.id, "span_id": span_id},
        "span_kind": "CHAIN",
        "start_time": format_timestamp(record.timestamp),
        "end_time": format_timestamp(end),
        "status_code": "ERROR" if record.status == "error" else "OK",
        "status_message": "failed" if record.status == "error" else "",
        "attributes": _flatten(attributes),
    }


def root_span_id(trace_id: str) -> str:
    """A 16-hex span id derived from the trace id, for records that carry none."""
    return hashlib.blake2b(trace_id.encode(), digest_size=8).hexdigest()


def _flatten(attributes: Mapping[str, JSONValue], prefix: str = "") -> dict[str, JSONValue]:
    """Nested attributes as OpenInference's dotted keys (`metadata.intent`)."""
    out: dict[str, JSONValue] = {}
    for key, value in attributes.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def seed_records(
    base_url: str,
    project: str,
    records: Iterable[TraceRecord],
    *,
    headers: dict[str, str] | None = None,
    batch: int = 500,
    progress: Progress | None = None,
    wait: bool = True,
    timeout: float = 900.0,
    extra_attributes: Callable[[TraceRecord], dict[str, JSONValue]] | None = None,
) -> int:
    """Send one root span per record to `project`; with `wait`, return once all are stored."""
    started = time.monotonic()
    expected = stored_count(base_url, project, headers=headers)
    sent = 0
    records_seen: list[TraceRecord] = []
    with httpx.Client(base_url=base_url, headers=headers or {}, timeout=60) as client:
        chunk: list[dict[str, JSONValue]] = []
        for record in records:
            if record.scores:
                records_seen.append(record)
            span = span_for_record(record)
            if extra_attributes is not None:  # e.g. input/output bodies, for realistic benchmarks
                span["attributes"].update(extra_attributes(record))
            chunk.append(span)
            if len(chunk) >= batch:
                _post_spans(client, project, chunk)
                sent += len(chunk)
                chunk = []
        if chunk:
            _post_spans(client, project, chunk)
            sent += len(chunk)
    expected += sent
    if progress:
        progress(f"sent {sent} traces in {time.monotonic() - started:.1f}s; Phoenix is storing them")
    if wait:
        wait_stored(base_url, project, expected, headers=headers, progress=progress, timeout=timeout)
        # Scores already on a record (e.g. user feedback) become trace annotations; the
        # traces must be stored first (Phoenix answers 404 for unknown traces).
        scores = [Score(r.id, name, value) for r in records_seen for name, value in r.scores.items()]
        if scores:
            seed_scores(base_url, scores, headers=headers, annotator_kind="HUMAN")
    return sent


def seed_scores(
    base_url: str,
    scores: Sequence[Score],
    *,
    headers: dict[str, str] | None = None,
    annotator_kind: str = "LLM",
    batch: int = 1000,
) -> None:
    """Write scores as trace annotations (upserts on name, trace, identifier)."""
    with httpx.Client(base_url=base_url, headers=headers or {}, timeout=120) as client:
        for i in range(0, len(scores), batch):
            data = [annotation_for_score(s, annotator_kind=annotator_kind) for s in scores[i : i + batch]]
            response = client.post("/v1/trace_annotations", params={"sync": "true"}, json={"data": data})
            checked(response, "writing trace annotations")


def seed_span_labels(
    base_url: str,
    labels: Sequence[tuple[str, Score]],
    *,
    headers: dict[str, str] | None = None,
    batch: int = 1000,
) -> None:
    """Write (root span id, score) pairs as HUMAN span annotations: what a reviewer's label set in
    Phoenix's annotation panel looks like (on the root span, not the trace)."""
    with httpx.Client(base_url=base_url, headers=headers or {}, timeout=120) as client:
        for i in range(0, len(labels), batch):
            data = []
            for span_id, score in labels[i : i + batch]:
                row = annotation_for_score(score, annotator_kind="HUMAN")
                data.append({**{k: v for k, v in row.items() if k != "trace_id"}, "span_id": span_id})
            checked(client.post("/v1/span_annotations", params={"sync": "true"}, json={"data": data}),
                    "writing span annotations")


def checked(response: httpx.Response, what: str) -> httpx.Response:
    """`response` if it succeeded; else the error with Phoenix's own text, in one line."""
    if response.is_success:
        return response
    text = " ".join(response.text.split())[:300] or response.reason_phrase
    message = f"Phoenix at {response.request.url.host}:{response.request.url.port} refused {what}: HTTP {response.status_code}: {text}"
    if response.status_code in (401, 403):
        raise AuthError(f"{message} (set PHOENIX_API_KEY)")
    if response.status_code == 429 or response.status_code >= 500:
        raise RetriableSourceError(message)
    raise FatalSourceError(message)


def _post_spans(client: httpx.Client, project: str, spans: Sequence[dict[str, JSONValue]]) -> None:
    for attempt in range(600):
        response = client.post(f"/v1/projects/{project}/spans", json={"data": list(spans)})
        if response.status_code == 503:  # ingest queue at capacity: wait for the insert loop
            time.sleep(min(2.0, 0.2 * (attempt + 1)))
            continue
        checked(response, f"sending spans to project {project!r}")
        return
    raise RetriableSourceError("Phoenix kept answering 503 to span ingest")


def stored_count(base_url: str, project: str, *, headers: dict[str, str] | None = None) -> int:
    """Root spans stored in `project` (0 when the project does not exist yet)."""
    query = "query { projects(first: 1000) { edges { node { name recordCount(filterCondition: \"parent_id is None\") } } } }"
    response = httpx.post(f"{base_url}/graphql", json={"query": query}, headers=headers or {}, timeout=30)
    checked(response, "counting stored spans")
    for edge in response.json()["data"]["projects"]["edges"]:
        if edge["node"]["name"] == project:
            return int(edge["node"]["recordCount"])
    return 0


def wait_stored(
    base_url: str,
    project: str,
    expected: int,
    *,
    headers: dict[str, str] | None = None,
    progress: Progress | None = None,
    timeout: float = 900.0,
    stall_timeout: float = 30.0,
) -> None:
    started = time.monotonic()
    last_note = 0.0
    last_count, last_change = -1, started
    while True:
        count = stored_count(base_url, project, headers=headers)
        now = time.monotonic()
        elapsed = now - started
        if count != last_count:
            last_count, last_change = count, now
        elif now - last_change > stall_timeout:
            raise RuntimeError(
                f"Phoenix stopped storing spans at {count} of {expected} (no progress for {stall_timeout:.0f}s); "
                "were some span ids duplicated?"
            )
        if count >= expected:
            if progress:
                progress(f"stored {count}/{expected} traces ({elapsed:.0f}s)")
            return
        if elapsed > timeout:
            raise RuntimeError(f"only {count} of {expected} spans stored after {timeout:.0f}s")
        if progress and elapsed - last_note >= 2:
            rate = count / elapsed if elapsed else 0
            progress(f"storing traces: {count}/{expected} ({rate:.0f}/s)")
            last_note = elapsed
        time.sleep(0.5)


__all__ = [
    "PhoenixServer",
    "create_system_key",
    "free_port",
    "running_server",
    "seed_records",
    "seed_scores",
    "span_for_record",
    "start_server",
    "stored_count",
    "wait_stored",
]

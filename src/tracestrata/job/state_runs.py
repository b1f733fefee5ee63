"""The run log of the state store: windows done, window runs, the traces they sampled and the
items they planned (`windows`, `runs`, `sampled` written, `items`, `policies`), and the
source keys they are filed under."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from tracestrata.design import CellJSON
from tracestrata.job.state_rows import (
    SAMPLED_STATUSES,
    ItemStatus,
    PlannedItem,
    RunCounts,
    RunRow,
    RunStatus,
    _dumps,
    _int,
    _json_of,
    _read,
    _run_row,
    _time,
    now_text,
    sampling_part,
)
from tracestrata.job.state_store import StoreBase
from tracestrata.protocols import iter_chunks
from tracestrata.record import JSONValue, format_timestamp


class RunLog(StoreBase):
    """Windows, runs and their planned items: what a sync did and what it still has to write."""

    def done_until(self, source: str) -> datetime | None:
        row = self.db.execute("SELECT max(window_end) FROM windows WHERE source = ?", (source,)).fetchone()
        if not row or not row[0]:
            return None
        return _read("windows", f"window_end {str(row[0])[:40]!r}", "window_end", row[0], _time, "a UTC time")

    def open_run(self, source: str, window_start: datetime) -> RunRow | None:
        """The unfinished run of this window, if a previous run stopped mid-way."""
        row = self.db.execute(
            f"SELECT * FROM runs WHERE source = ? AND window_start = ? AND status != '{RunStatus.DONE}' "
            "ORDER BY started_at DESC LIMIT 1",
            (source, format_timestamp(window_start)),
        ).fetchone()
        return _run_row(row) if row else None

    def last_run(self, source: str) -> RunRow | None:
        row = self.db.execute(
            "SELECT * FROM runs WHERE source = ? ORDER BY window_start DESC, started_at DESC LIMIT 1", (source,)
        ).fetchone()
        return _run_row(row) if row else None

    def runs(self, source: str | None = None, *, status: RunStatus | None = RunStatus.DONE) -> list[RunRow]:
        query = "SELECT * FROM runs"
        clauses, args = [], []
        if source is not None:
            clauses.append("source = ?")
            args.append(source)
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY window_start, started_at"
        return [_run_row(row) for row in self.db.execute(query, args)]

    def sampled_runs(self, source: str, *, ending_after: datetime | None = None) -> list[RunRow]:
        """The runs of `source` whose sample is written, whole or in part (done, writing or partial),
        ending after `ending_after` when given (a reporting period): what the judge judges and
        `sync` reads scores for."""
        return [
            r
            for r in self.runs(source, status=None)
            if r.status in SAMPLED_STATUSES and (ending_after is None or r.window_end > ending_after)
        ]

    def traffic(self, source: str, since: datetime, until: datetime) -> list[tuple[datetime, datetime, int]]:
        """(start, end, traces) of every sampled window of `source` inside [since, until), one per window."""
        rows = self.db.execute(
            "SELECT window_start, window_end, counts FROM runs WHERE source = ? AND window_start >= ? "
            "ORDER BY window_start, started_at",
            (source, format_timestamp(since - timedelta(days=1))),  # a margin: the exact cut is below
        )
        by_start: dict[datetime, tuple[datetime, datetime, int]] = {}
        for start_text, end_text, counts in rows:
            where = f"window_start {str(start_text)[:40]!r}"
            start = _read("runs", where, "window_start", start_text, _time, "a UTC time")
            end = _read("runs", where, "window_end", end_text, _time, "a UTC time")
            if since <= start and end <= until:
                data = _read("runs", where, "counts", counts, _json_of(dict), "a JSON object")
                by_start[start] = (start, end, _read("runs", where, "counts.traces", data.get("traces", 0), _int, "an integer"))
        return list(by_start.values())

    def next_series(self, source: str, policy_digest: str, policy: Mapping[str, JSONValue] | None = None) -> int:
        """The series a new run of this digest belongs to: a change of what the policy samples
        starts a new one; a change of its `[review]` subsample alone (given `policy`) does not."""
        last = self.last_run(source)
        if last is None:
            return 1
        if last.policy_digest == policy_digest:
            return last.series
        before = self.policy(last.policy_digest)
        if policy is not None and before is not None and sampling_part(before) == sampling_part(policy):
            return last.series
        return last.series + 1

    # -- identity ----------------------------------------------------------------------------

    def sources(self) -> list[str]:
        """Every source key with a run or a done window, oldest first."""
        rows = self.db.execute(
            "SELECT source, min(started_at) FROM runs GROUP BY source "
            "UNION ALL SELECT source, min(done_at) FROM windows GROUP BY source"
        )
        first: dict[str, str] = {}
        for source, stamp in rows:
            first[source] = min(first.get(source, stamp), stamp)
        return sorted(first, key=lambda s: (first[s], s))

    def older_key(self, key: str, identity: Callable[[str], str]) -> str | None:
        """The key an older version gave the source `key` is, when the state has nothing under
        `key` but has a source whose `identity(old key)` is `key` (older keys counted read-back
        options). Of several (a job forked by an older version), the one furthest along, then
        the oldest."""
        known = self.sources()
        if key in known:
            return None
        matches = [old for old in known if identity(old) == key]
        if not matches:
            return None
        until = {old: self.done_until(old) for old in matches}
        epoch = datetime.min.replace(tzinfo=UTC)
        return max(matches, key=lambda o: ((until[o] or epoch), -known.index(o)))

    def adopt_source(self, key: str, identity: Callable[[str], str]) -> str | None:
        """Give `key` the history of the source it is (`older_key`), renamed in one transaction:
        the upgrade step for keys written before read-back options left the identity. Returns
        the old key adopted, or None."""
        old = self.older_key(key, identity)
        if old is None:
            return None
        with self.transaction() as db:
            for table in ("windows", "runs", "boost", "cursors"):
                db.execute(f"UPDATE {table} SET source = ? WHERE source = ?", (key, old))
        return old

    def plan_run(
        self,
        *,
        run_id: str,
        source: str,
        window_start: datetime,
        window_end: datetime,
        policy_digest: str,
        series: int,
        cells: Sequence[CellJSON],
        counts: RunCounts,
        sampled: Iterable[tuple[str, str, Mapping[str, JSONValue]]],
        items: Iterable[PlannedItem],
        boost_collected: Mapping[str, int],
        policy: Mapping[str, JSONValue] | None = None,
    ) -> None:
        """Record a window's design, its sample and every item to write, before writing any."""
        with self.transaction() as db:
            if policy is not None:
                db.execute(
                    "INSERT INTO policies VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                    (policy_digest, _dumps(dict(policy)), now_text()),
                )
            db.execute(
                f"INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, '{RunStatus.WRITING}', ?, NULL, ?, ?)",
                (
                    run_id,
                    source,
                    format_timestamp(window_start),
                    format_timestamp(window_end),
                    policy_digest,
                    series,
                    now_text(),
                    _dumps(list(cells)),
                    _dumps(dict(counts)),
                ),
            )
            db.executemany(
                "INSERT INTO sampled VALUES (?, ?, ?, ?)",
                ((run_id, trace_id, cell, _dumps(dict(attrs))) for trace_id, cell, attrs in sampled),
            )
            db.executemany(
                f"INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, '{ItemStatus.PLANNED}', NULL) "
                "ON CONFLICT (item_id) DO NOTHING",
                (
                    (i.item_id, run_id, i.sink_kind, i.sink_name, i.trace_id, _dumps(i.payload))
                    for i in items
                ),
            )
            for name, collected in boost_collected.items():
                db.execute(
                    "INSERT INTO boost VALUES (?, ?, ?) ON CONFLICT (source, name) DO UPDATE SET collected = excluded.collected",
                    (source, name, int(collected)),
                )

    def pending_items(self, run_id: str) -> list[PlannedItem]:
        rows = self.db.execute(
            "SELECT item_id, sink_kind, sink_name, trace_id, payload FROM items "
            f"WHERE run_id = ? AND status = '{ItemStatus.PLANNED}' ORDER BY rowid",
            (run_id,),
        )
        return [
            PlannedItem(r[0], r[1], r[2], r[3], _read("items", f"item_id {str(r[0])[:40]!r}", "payload", r[4], _json_of(dict), "a JSON object"))
            for r in rows
        ]

    def items_of(self, run_ids: Sequence[str], sink_kind: str) -> list[PlannedItem]:
        """Every item of the given runs bound for sinks of `sink_kind`, written or not (what the judge reads)."""
        out: list[PlannedItem] = []
        for chunk in iter_chunks(run_ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT item_id, sink_kind, sink_name, trace_id, payload FROM items "
                f"WHERE run_id IN ({marks}) AND sink_kind = ? ORDER BY rowid",
                (*chunk, sink_kind),
            )
            out.extend(PlannedItem(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows)
        return out

    def mark_written(self, item_ids: Sequence[str]) -> None:
        with self.transaction() as db:
            stamp = now_text()
            db.executemany(
                f"UPDATE items SET status = '{ItemStatus.WRITTEN}', written_at = ? WHERE item_id = ?",
                ((stamp, item_id) for item_id in item_ids),
            )

    def set_run_status(self, run_id: str, status: RunStatus) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))

    def finish_run(self, run: RunRow) -> None:
        """Mark the run done and its window complete for its source, in one step."""
        with self.transaction() as db:
            stamp = now_text()
            db.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?", (RunStatus.DONE, stamp, run.run_id))
            db.execute(
                "INSERT INTO windows VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, window_start) DO UPDATE "
                "SET run_id = excluded.run_id, done_at = excluded.done_at",
                (run.source, format_timestamp(run.window_start), format_timestamp(run.window_end), run.run_id, stamp),
            )

    def update_counts(self, run_id: str, counts: RunCounts) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET counts = ? WHERE run_id = ?", (_dumps(dict(counts)), run_id))

    def item_counts(self, run_id: str | None = None) -> dict[str, int]:
        query = "SELECT status, count(*) FROM items"
        args: tuple[str, ...] = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            args = (run_id,)
        return {status: n for status, n in self.db.execute(query + " GROUP BY status", args)}


__all__ = ["RunLog"]

"""Scores read back from the backend, the sample each score is joined to, the policies
runs used, and small named cursors (`scores`, `sampled` read, `policies`, `cursors`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

from tracestrata.job.state_rows import SQLValue, _dumps, _encode_value, _json_of, _read, _score_value, _time, now_text
from tracestrata.job.state_store import StoreBase
from tracestrata.protocols import iter_chunks
from tracestrata.record import JSONValue, Score, format_timestamp

SampledRow: TypeAlias = "tuple[str, str, str, dict[str, JSONValue]]"
"""(run_id, trace_id, cell, attrs) of one sampled trace."""


class ScoreLog(StoreBase):
    """What was read back (scores, cursors) and what it is read against (samples, policies)."""

    def sampled(self, run_ids: Sequence[str]) -> list[SampledRow]:
        """(run_id, trace_id, cell, attrs) of the given runs."""
        out: list[SampledRow] = []
        for chunk in iter_chunks(run_ids, 500):
            marks = ",".join("?" * len(chunk))
            for run_id, trace_id, cell, attrs in self.db.execute(
                f"SELECT run_id, trace_id, cell, attrs FROM sampled WHERE run_id IN ({marks}) ORDER BY rowid", chunk
            ):
                where = f"run_id {str(run_id)[:40]!r}, trace_id {str(trace_id)[:40]!r}"
                out.append((run_id, trace_id, cell, _read("sampled", where, "attrs", attrs, _json_of(dict), "a JSON object")))
        return out

    def store_scores(self, scores: Iterable[Score]) -> int:
        """Upsert scores; returns how many were new or changed."""
        changed = 0
        stamp = now_text()
        with self.transaction() as db:
            for score in scores:
                key = (score.trace_id, score.name, score.identifier or "")
                value = _dumps(_encode_value(score.value))
                updated = format_timestamp(score.updated_at) if score.updated_at else None
                row = db.execute(
                    "SELECT value, updated_at FROM scores WHERE trace_id = ? AND name = ? AND identifier = ?", key
                ).fetchone()
                if row is not None and row[0] == value and row[1] == updated:
                    continue
                changed += 1
                db.execute(
                    "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id, name, identifier) "
                    "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, read_at = excluded.read_at",
                    (*key, value, updated, stamp),
                )
        return changed

    def scores(self, trace_ids: Sequence[str] | None = None) -> list[Score]:
        rows: list[tuple[SQLValue, ...]] = []
        if trace_ids is None:
            rows = list(self.db.execute("SELECT * FROM scores ORDER BY trace_id, name, identifier"))
        else:
            for chunk in iter_chunks(trace_ids, 500):
                marks = ",".join("?" * len(chunk))
                rows.extend(
                    self.db.execute(
                        f"SELECT * FROM scores WHERE trace_id IN ({marks}) ORDER BY trace_id, name, identifier", chunk
                    )
                )
        out: list[Score] = []
        for r in rows:
            where = f"trace_id {str(r[0])[:40]!r}, name {str(r[1])[:40]!r}"
            value = _read("scores", where, "value", r[3], _score_value, 'a JSON object like {"number": 1.0}')
            updated = _read("scores", where, "updated_at", r[4], _time, "a UTC time") if r[4] else None
            out.append(Score(trace_id=r[0], name=r[1], value=value, identifier=r[2] or None, updated_at=updated))
        return out

    def policy(self, digest: str) -> dict[str, JSONValue] | None:
        row = self.db.execute("SELECT policy FROM policies WHERE digest = ?", (digest,)).fetchone()
        return _read("policies", f"digest {digest[:12]!r}", "policy", row[0], _json_of(dict), "a JSON object") if row else None

    def get_cursor(self, source: str, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM cursors WHERE source = ? AND name = ?", (source, name)).fetchone()
        return str(row[0]) if row else None

    def set_cursors(self, source: str, values: Mapping[str, str]) -> None:
        """Several cursors in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (source, name) DO UPDATE SET value = excluded.value",
                [(source, name, value) for name, value in values.items()],
            )

    def cursors_named(self, source: str, names: Sequence[str]) -> dict[str, str]:
        """The cursors among `names` that are set."""
        out: dict[str, str] = {}
        for chunk in iter_chunks(names, 500):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT name, value FROM cursors WHERE source = ? AND name IN ({marks})", (source, *chunk)
            )
            out.update({str(n): str(v) for n, v in rows})
        return out

    def set_cursor(self, source: str, name: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (source, name) DO UPDATE SET value = excluded.value",
                (source, name, value),
            )


__all__ = ["SampledRow", "ScoreLog"]

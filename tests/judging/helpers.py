"""Sampled items over synthetic traces, and the pieces every judge test wires together."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tracestrata.connectors.files.judging import FilesScoreWriter, RecordBodies
from tracestrata.connectors.files.scores import FilesScoreSource
from tracestrata.judging import JudgeTargets
from tracestrata.protocols import SampleItem, item_id_for
from tracestrata.record import Score
from tracestrata.synthetic import generate_traces

T0 = datetime(2026, 11, 23, tzinfo=UTC)
PROMPT = "trace={trace_id}\nIs this answer right? Reply correct or incorrect.\n{input}\nIntent: {metadata.intent}"
LABELS = {"correct": True, "incorrect": False}


def items(n: int, *, seed: int = 3) -> list[SampleItem]:
    records = generate_traces(n, start=T0, end=T0.replace(hour=23), seed=seed)
    return [
        SampleItem(
            item_id=item_id_for("test", None, r.id),
            record=r,
            stratum=str(r.metadata.get("intent", "")),
            values={},
            failure=r.status == "error",
            signals=(),
            inclusion_probability=0.5,
            weight=2.0,
            run="run-1",
        )
        for r in records
    ]


def file_targets(path: Path) -> JudgeTargets:
    return JudgeTargets(RecordBodies(), FilesScoreWriter(path), FilesScoreSource(path))


def scores_in(path: Path, trace_ids: Sequence[str] | None = None, name: str = "correct") -> list[Score]:
    ids = trace_ids if trace_ids is not None else [line.split('"')[3] for line in path.read_text().splitlines()]
    return list(FilesScoreSource(path).get_scores(list(ids), [name]))


def llm_config(url: str, **extra: object) -> dict[str, object]:
    return {"base_url": url, "model": "stub-judge", "api_key_env": "STUB_JUDGE_KEY", "prompt": PROMPT,
            "labels": LABELS, **extra}

"""A report's scores read from a JSONL file, the malformed lines it skipped said as a report warning."""

from __future__ import annotations

from pathlib import Path

from tracestrata.estimate.report import ReportWarning
from tracestrata.io.jsonl import read_scores_jsonl
from tracestrata.record import Score


def read_report_scores(path: str | Path, *, skip_bad: bool = False) -> tuple[list[Score], ReportWarning | None]:
    """The scores of `path` (one {trace_id, name, value} per line), and with `skip_bad` a warning
    counting the malformed lines skipped (None when there were none)."""
    scores, bad = read_scores_jsonl(path, skip_bad=skip_bad)
    if not bad:
        return scores, None
    where = str(path)
    return scores, ReportWarning(
        "bad_score_lines", f"{bad} malformed lines in {where} were skipped (--skip-bad)", {"count": bad, "path": where}
    )


__all__ = ["read_report_scores"]

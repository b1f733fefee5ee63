"""The reviewers' list: the `[review]` subsample of the report period, in the order it was drawn.

Phoenix lists traces newest first and a link cannot sort them otherwise, so the job
writes the list itself (`<report dir>/review.md`): every trace of the review subsample,
window by window, in review-hash order (the order `draw_review` draws each cell's
subsample in: a reviewer who works down it and stops anywhere leaves a random
subsample of every cell), with its stratum, why it was drawn and whether it has a
label yet, and a link to the trace's page where the label is set. The judge's verdict
is not in the list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from tracestrata.design import Design
from tracestrata.policy.model import Policy
from tracestrata.sampling.review_draw import review_order


@dataclass(frozen=True)
class ReviewRow:
    window: str
    trace_id: str
    stratum: str
    reason: str  # failure, boost or normal: the cell it was drawn from


def review_rows(design: Design, policy: Policy) -> list[ReviewRow]:
    """The review subsample of `design` (units marked `review`), window by window in review order."""
    windows = {c.id: c.window or "" for c in design.cells}
    by_window: dict[str, dict[str, ReviewRow]] = {}
    for unit in design.units:
        attrs = unit.attrs
        if attrs.get("review") is not True:
            continue
        reason = "boost" if attrs.get("boost") else "failure" if attrs.get("failure") else "normal"
        window = windows.get(unit.cell, "")
        row = ReviewRow(window, unit.trace_id, str(attrs.get("stratum", "")), reason)
        by_window.setdefault(window, {})[unit.trace_id] = row
    out: list[ReviewRow] = []
    for window in sorted(by_window):
        rows = by_window[window]
        out += [rows[t] for t in review_order(list(rows), policy)]
    return out


def render_review_list(
    rows: Sequence[ReviewRow],
    labelled: Collection[str],
    *,
    labels: Sequence[str],
    trace_url: Callable[[str], str | None],
    filtered_url: str | None = None,
) -> str:
    """The list as Markdown: one line per trace, the labels to set, and a link to each trace."""
    done = sum(1 for r in rows if r.trace_id in labelled)
    names = ", ".join(f"`{n}`" for n in labels) or "the label"
    lines = [
        "# Traces to review",
        "",
        f"{len(rows)} traces, {done} labelled. Open each in turn, top to bottom, and set {names} in the trace's "
        "annotation panel. Label every one: skipping some, or whole strata, makes the estimate less trustworthy. "
        "The judge's verdict is not shown here on purpose: decide before you look at it.",
        "",
    ]
    if filtered_url:
        lines += [f"All of them in one list (newest first, not in review order): {filtered_url}", ""]
    lines += ["| # | window | stratum | why drawn | labelled | trace |", "|---:|---|---|---|---|---|"]
    for n, r in enumerate(rows, 1):
        url = trace_url(r.trace_id)
        link = f"[{r.trace_id}]({url})" if url else f"`{r.trace_id}`"
        mark = "yes" if r.trace_id in labelled else ""
        lines.append(f"| {n} | {r.window} | {_cell(r.stratum)} | {r.reason} | {mark} | {link} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


__all__ = ["ReviewRow", "render_review_list", "review_rows"]

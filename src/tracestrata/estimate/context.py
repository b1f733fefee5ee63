"""What a report covers, in words: the header every report (Markdown, HTML, JSON) starts with.

A number without its period, source, policy and generation time cannot be trusted or
reproduced. `ReportContext` is plain data filled by whoever knows it (the CLI from a
sample directory or a ledger, the sync job from its config); the renderers here turn it
into a header, and `GLOSSARY` into the footnote that says the statistical terms in words.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ReportContext", "column_legend", "glossary", "metric_sentence"]


def metric_sentence(metric: str, kind: str) -> str:
    """The metric in words, for a product manager."""
    if kind == "rate":
        return (f"{metric}: the share of all traces in the period whose {metric!r} score is true (or 1), "
                "estimated from the judged sample")
    if kind == "categorical":
        return f"{metric}: the share of all traces in the period with each {metric!r} label, estimated from the judged sample"
    return f"{metric}: the average {metric!r} score over all traces in the period, estimated from the judged sample"


@dataclass(frozen=True)
class ReportContext:
    """The report's provenance. Every field is optional but `generated_at` and `version`."""

    generated_at: str
    version: str
    period_start: str | None = None
    period_end: str | None = None
    windows: int | None = None
    backend: str | None = None
    project: str | None = None
    source: str | None = None  # the source as the state keys it (credentials never in it)
    policy_digest: str | None = None
    seed: str | None = None
    sampled: int | None = None
    judged: int | None = None
    links: Mapping[str, str] = field(default_factory=dict)  # stratum -> its filtered view in the backend UI
    link_label: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "period": {"start": self.period_start, "end": self.period_end, "windows": self.windows},
            "source": {"backend": self.backend, "project": self.project, "key": self.source},
            "policy": {"digest": self.policy_digest, "seed": self.seed},
            "sampled": self.sampled,
            "judged": self.judged,
            "tool": {"name": "tracestrata", "version": self.version},
            "generated_at": self.generated_at,
            "links": dict(self.links),
        }

    def facts(self) -> list[tuple[str, str]]:
        """(label, value) pairs in reading order, the unknown ones left out."""
        period = ""
        if self.period_start or self.period_end:
            period = f"{self.period_start or '?'} to {self.period_end or '?'}"
            if self.windows is not None:
                period += f" ({self.windows} window{'s' * (self.windows != 1)})"
        source = " · ".join(x for x in (self.backend, f"project {self.project}" if self.project else None) if x)
        policy = ""
        if self.policy_digest:
            policy = f"{self.policy_digest[:12]}" + (f", seed {self.seed}" if self.seed else "")
        counts = ""
        if self.sampled is not None:
            counts = f"{self.sampled:,} sampled" + (f", {self.judged:,} judged" if self.judged is not None else "")
        rows = [("Period", period), ("Source", source or (self.source or "")), ("Policy", policy),
                ("Traces", counts), ("Generated", f"{self.generated_at} by tracestrata {self.version}")]
        return [(k, v) for k, v in rows if v]

    def markdown(self, definition: str) -> list[str]:
        lines = [f"- **{k}:** {v}" for k, v in self.facts()]
        return [f"**Metric.** {definition}.", ""] + lines + [""]

    def html(self, definition: str) -> str:
        items = "".join(f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in self.facts())
        return (f'<section class="context" id="context"><p class="def"><b>Metric.</b> {html.escape(definition)}.</p>'
                f"<dl>{items}</dl></section>")


def column_legend(proxy: bool) -> list[tuple[str, str]]:
    """The strata table's columns in plain words."""
    cols = [
        ("population", "traces of the stratum in the period"),
        ("sampled", "traces drawn for judging"),
        ("scored", "sampled traces that have a score (judged)"),
        ("estimate", "the value for all of the stratum's traces, each judged trace weighted by the traces it stands for"),
        ("CI", "the interval the true value lies in, at the report's confidence"),
    ]
    if proxy:
        cols += [
            ("plain / plain CI", "the same estimate without the proxy"),
            ("worth", "how many more judged traces the proxy is worth: the plain estimate would need that many "
                      "more to be as precise; negative when the proxy made the stratum less precise (its own "
                      "noise outweighs what it explains, so λ is near 0 there)"),
        ]
    return cols


def glossary(proxy: bool) -> list[tuple[str, str]]:
    """Statistical terms in one line each."""
    terms = [
        ("interval (CI)", "if the judge is right, intervals made this way hold the true value in 95 of 100 reports "
                          "(at 95% confidence)"),
        ("naive mean", "the plain average of the judged traces; failures are oversampled, so it is biased and shown "
                       "only to see how much the weighting matters"),
        ("Korn–Graubard, Wilson, t", "the formulas for the interval: Korn–Graubard (exact, for a rate over the whole "
                                     "population), Wilson (for a rate inside one stratum), t (for a mean)"),
        ("descriptive", "about this period's traces (the correction for having judged part of a finite set applies)"),
    ]
    if proxy:
        terms += [
            ("λ (lambda)", "how much the cheap proxy score is trusted: 0 ignores it, 1 uses its full difference"),
            ("variance ×r", "the interval's squared width relative to the estimate without the proxy: below 1 is "
                            "narrower"),
        ]
    return terms

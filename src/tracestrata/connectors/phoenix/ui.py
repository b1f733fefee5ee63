"""Links into the Phoenix UI for reviewers: the project's spans, already filtered to the sample.

The filters are Phoenix's span filter expressions on the `tracestrata.sampled` trace
annotation (label = stratum, explanation = failure/boost/normal; docs/phoenix.md); the
project page reads the filter and the time range from its URL.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from tracestrata.record import format_timestamp


def sample_filter(annotation: str = "tracestrata.sampled") -> str:
    """Every sampled trace's root span."""
    return f"trace_annotations['{annotation}'].label is not None"


def stratum_filter(stratum: str, annotation: str = "tracestrata.sampled") -> str:
    """One stratum's sampled traces."""
    quoted = stratum.replace("\\", "\\\\").replace("'", "\\'")
    return f"trace_annotations['{annotation}'].label == '{quoted}'"


def filtered_traces_url(project_url: str, condition: str, start: datetime, end: datetime) -> str:
    """The project's Traces tab with `condition` as its trace filter and the time range [start, end):
    the list shows each trace's trace annotations (the marker's stratum) as chips."""
    return f"{project_url}/traces?" + urlencode({
        "traceFilterCondition": condition,
        "timeRangeStart": format_timestamp(start),
        "timeRangeEnd": format_timestamp(end),
    })


def filtered_spans_url(project_url: str, condition: str, start: datetime, end: datetime) -> str:
    """The project's span table with `condition` in the filter box and the time range set to [start, end)."""
    return f"{project_url}/spans?" + urlencode({
        "spanFilterCondition": condition,
        "timeRangeStart": format_timestamp(start),
        "timeRangeEnd": format_timestamp(end),
    })

"""The population counts `plan --config` sizes strata from: a sync job's backend and window.

Pushed down to the backend's own counters when the policy allows it, else pulled.
"""

from __future__ import annotations

from collections.abc import Callable

from tracestrata.job.config import SyncConfig, load_config, now_utc
from tracestrata.errors import RetriableSourceError
from tracestrata.io.retry import governing
from tracestrata.job.sync import load_connector, retry_message
from tracestrata.job.windows import last_closed_window
from tracestrata.protocols import StratumCounter, Window
from tracestrata.sampling.counts import StratumCounts
from tracestrata.sampling.counting import count_strata
from tracestrata.sampling.dedupe import unique_records
from tracestrata.sampling.field_check import FieldWatch
from tracestrata.sampling.hashing import hash_key
from tracestrata.policy.model import Policy
from tracestrata.plan.pushdown import CountUnavailable, count_strata_pushdown


def counts_from_config(
    config_path: str,
    window: Window | None,
    rate: float | None,
    rate_field: str | None,
    *,
    say: Callable[[str], None],
    on_repeats: Callable[[int], None] | None = None,
    watch: FieldWatch | None = None,
) -> tuple[Policy, list[StratumCounts], str]:
    """Population counts from a sync config's backend: pushed down when possible, else pulled."""
    config = load_config(config_path)
    config.check_credentials()
    if window is None:
        window = last_closed_window(start=config.start, every=config.every, settle=config.settle, now=now_utc())

    def on_retry(exc: RetriableSourceError, attempt: int, wait: float) -> None:
        say(retry_message(exc, attempt, wait, config.retry.attempts))

    with governing(config.retry, on_retry=on_retry):
        policy, counts = _counts(config, window, rate, rate_field, say=say, on_repeats=on_repeats, watch=watch)
    return policy, counts, config_path


def _counts(
    config: SyncConfig,
    window: Window,
    rate: float | None,
    rate_field: str | None,
    *,
    say: Callable[[str], None],
    on_repeats: Callable[[int], None] | None,
    watch: FieldWatch | None,
) -> tuple[Policy, list[StratumCounts]]:
    policy: Policy = config.policy
    if watch is not None:
        watch.start(policy)
    connector = load_connector(config)
    try:
        source = connector.trace_source()
        if rate is not None and isinstance(source, StratumCounter):
            try:
                counts = count_strata_pushdown(source, window, policy)
            except CountUnavailable as exc:
                say(f"counting by pulling the window's metadata: {exc}")
            else:
                say(f"counted {len(counts)} strata with the backend's counters (no traces pulled)")
                return policy, counts
        elif isinstance(source, StratumCounter):
            say("pulling the window's metadata (give --rate to count without pulling)")
        records = source.iter_traces(window, metadata_keys=policy.metadata_keys())
        records = unique_records(records, hash_key(policy.seed), on_repeats=on_repeats)
        if watch is not None:
            records = watch.records(records)
        return policy, count_strata(records, policy, rate_field=rate_field, raw=False)
    finally:
        connector.close()


__all__ = ["counts_from_config"]

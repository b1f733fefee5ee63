"""Sample sinks: a Langfuse dataset (upsert by item id) and an annotation queue (exactly once).

Dataset items upsert on `id` server-side, so a retried or repeated write is safe;
we still list the dataset first and skip items whose stored copy is identical, so a
re-run sends nothing.

Annotation queue items are *not* idempotent: every `POST .../items` adds a row. So
the queue sink lists the queue's items first and adds only traces not already in it,
and after a failed POST (timeout, 5xx, dropped connection: the server may have
committed it) it lists again before trying once more. Optionally it appends every
item it wrote to a journal file, so `written_ids()` can answer with our item ids
(the queue itself only stores trace ids).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from langfuse.api.annotation_queues.types.annotation_queue_object_type import (
    AnnotationQueueObjectType,
)
from langfuse.api import AnnotationQueue, ScoreConfig
from langfuse.api.commons.types.config_category import ConfigCategory
from langfuse.api.commons.types.dataset_item import DatasetItem

from tracestrata.errors import FatalSourceError, RetriableSourceError
from tracestrata.io.retry import retrying
from tracestrata.protocols import HumanLabel, JSONObject, JSONValue, LabelKind, SampleItem, WriteResult

from .client import LangfuseClient, status_of
from .judging import root_io

LIST_LIMIT = 100  # page size for the page-numbered list endpoints


T_co = TypeVar("T_co", covariant=True)


class _PageMeta(Protocol):
    @property
    def total_pages(self) -> int | None: ...


class _Page(Protocol[T_co]):
    """One page of a page-numbered SDK listing (`PaginatedDatasetItems`, `ScoreConfigs`...)."""

    @property
    def data(self) -> Sequence[T_co]: ...

    @property
    def meta(self) -> _PageMeta: ...


def _pages(fetch: Callable[[int], _Page[T_co]]) -> Iterator[T_co]:
    """Walk a page-numbered listing (`meta.page`/`meta.totalPages`) to its end."""
    page = 1
    while True:
        response = fetch(page)
        yield from response.data
        if page >= (response.meta.total_pages or 0) or not response.data:
            return
        page += 1


def _score_configs(client: LangfuseClient) -> list[ScoreConfig]:
    api = client.api.score_configs
    return list(_pages(lambda page: client.call("general", "list score configs", api.get, page=page, limit=LIST_LIMIT)))


def ensure_score_config(client: LangfuseClient, label: HumanLabel) -> tuple[str, bool]:
    """The id of the (unarchived) score config named after `label`, created to match it if missing
    (and True if so): BOOLEAN, CATEGORICAL with its values, or NUMERIC with its bounds."""
    for config in _score_configs(client):
        if config.name == label.name and not config.is_archived:
            return config.id, False
    extra: dict[str, object] = {}
    if label.kind is LabelKind.CATEGORICAL:
        data_type = "CATEGORICAL"
        extra["categories"] = [ConfigCategory(label=text, value=score) for text, score in label.values]
    elif label.kind is LabelKind.CONTINUOUS:
        data_type = "NUMERIC"
        extra.update(min_value=label.lower, max_value=label.upper)
    else:
        data_type = "BOOLEAN"
    created = client.call(
        "general",
        f"create score config {label.name!r}",
        client.api.score_configs.create,
        name=label.name,
        data_type=data_type,
        description=label.description or f"Human label, read back by tracestrata as {label.name!r}.",
        **extra,
    )
    return created.id, True


class LangfuseDatasetSink:
    def __init__(self, client: LangfuseClient, name: str) -> None:
        self.client = client
        self.name = name
        self._ready = False
        self._stored: dict[str, DatasetItem] | None = None

    def _dataset_exists(self) -> bool:
        if self._ready:
            return True
        try:
            self.client.call("datasets", f"get dataset {self.name!r}", self.client.api.datasets.get, dataset_name=self.name)
        except FatalSourceError as exc:
            if status_of(exc) != 404:
                raise
            return False
        self._ready = True
        return True

    def _ensure_dataset(self) -> None:
        if self._dataset_exists():
            return
        self.client.call(
            "datasets",
            f"create dataset {self.name!r}",
            self.client.api.datasets.create,
            name=self.name,
            metadata={"created_by": "tracestrata"},
        )
        self._ready = True

    def _stored_items(self, *, create: bool = True) -> dict[str, DatasetItem]:
        if self._stored is None:
            if create:
                self._ensure_dataset()
            elif not self._dataset_exists():
                return {}  # nothing written yet; a read does not create the dataset
            api = self.client.api.dataset_items
            items = _pages(
                lambda page: self.client.call(
                    "datasets",
                    f"list items of dataset {self.name!r}",
                    api.list,
                    dataset_name=self.name,
                    page=page,
                    limit=LIST_LIMIT,
                )
            )
            self._stored = {item.id: item for item in items}
        return self._stored

    def written_ids(self) -> set[str]:
        return set(self._stored_items(create=False))

    def write(self, items: Sequence[SampleItem]) -> WriteResult:
        stored = self._stored_items()
        created = updated = unchanged = 0
        ids: list[str] = []
        for item in items:
            body = self._body(item)
            old = stored.get(item.item_id)
            if old is not None and _same(old, body):
                unchanged += 1
                ids.append(item.item_id)
                continue
            new = self.client.call(
                "datasets", f"upsert item {item.item_id} in dataset {self.name!r}", self.client.api.dataset_items.create,
                **body,
            )
            stored[new.id] = new
            ids.append(new.id)
            if old is None:
                created += 1
            else:
                updated += 1
        return WriteResult(created=created, updated=updated, unchanged=unchanged, item_ids=tuple(ids))

    def _body(self, item: SampleItem) -> JSONObject:
        body: JSONObject = {
            "dataset_name": self.name,
            "id": item.item_id,
            "source_trace_id": item.trace_id,
            "metadata": item.metadata(),
        }
        if item.record.span_id:
            body["source_observation_id"] = item.record.span_id
        if self.client.options.include_bodies:
            io = self._fetch_io(item)
            body["input"] = io.get("input")
            body["expected_output"] = io.get("output")
        return body

    def _fetch_io(self, item: SampleItem) -> dict[str, JSONValue]:
        """Input/output of the sampled trace's root observation (only when asked for)."""
        body = root_io(self.client, item.trace_id)
        return {} if body is None else {"input": body.input, "output": body.output}


def _same(old: DatasetItem, body: JSONObject) -> bool:
    if old.metadata != body["metadata"] or old.source_trace_id != body["source_trace_id"]:
        return False
    if old.source_observation_id != body.get("source_observation_id"):
        return False
    if "input" in body and (old.input != body["input"] or old.expected_output != body["expected_output"]):
        return False
    return True


class LangfuseQueueSink:
    def __init__(
        self, client: LangfuseClient, name: str, *, journal: Path | None = None, labels: Sequence[HumanLabel] = ()
    ) -> None:
        self.client = client
        self.name = name
        self.journal = journal
        self.labels = tuple(labels)  # the queue is created with one score config per declared label
        self._queue_id: str | None = None
        self._present: set[str] | None = None  # trace ids in the queue
        self._ids: dict[str, str] = {}  # item id -> trace id, for items we know are in the queue
        self._journaled: set[str] | None = None
        self._queues_seen: list[AnnotationQueue] = []

    # -- queue lookup / creation -------------------------------------------------------
    @property
    def queue_id(self) -> str:
        if self._queue_id is None:
            self._queue_id = self._find_or_create_queue()
        return self._queue_id

    def _find_queue(self) -> str | None:
        api = self.client.api.annotation_queues
        self._queues_seen = list(
            _pages(
                lambda page: self.client.call(
                    "annotation_queues", "list annotation queues", api.list_queues, page=page, limit=LIST_LIMIT
                )
            )
        )
        for queue in self._queues_seen:
            if queue.name == self.name:
                self._queue_id = queue.id
                return queue.id
        return None

    def _find_or_create_queue(self) -> str:
        found = self._find_queue()
        if found is not None:
            return found
        api = self.client.api.annotation_queues
        queues = self._queues_seen
        if self.labels:
            config_ids = [ensure_score_config(self.client, label)[0] for label in self.labels]
        else:
            config_ids = [self._score_config_id()]
        try:
            queue = self.client.call(
                "annotation_queues",
                f"create annotation queue {self.name!r}",
                api.create_queue,
                name=self.name,
                score_config_ids=config_ids,
                description="Traces sampled by tracestrata (stratified, failure-oversampled).",
            )
        except FatalSourceError as exc:
            if status_of(exc) == 405:
                existing = ", ".join(repr(q.name) for q in queues) or "none visible"
                raise FatalSourceError(
                    f"Langfuse refused to create annotation queue {self.name!r} (HTTP 405): the plan's "
                    f"annotation-queue limit is reached (Hobby allows one); existing: {existing}. "
                    "Set the sink's queue name to an existing queue, or delete one",
                    field="sink.queue",
                ) from None
            raise
        return queue.id

    def _score_config_id(self) -> str:
        api = self.client.api.score_configs
        wanted = self.client.options.score_config
        configs = _pages(
            lambda page: self.client.call("general", "list score configs", api.get, page=page, limit=LIST_LIMIT)
        )
        for config in configs:
            if config.name == wanted and not config.is_archived:
                return config.id
        created = self.client.call(
            "general",
            f"create score config {wanted!r}",
            api.create,
            name=wanted,
            data_type=self.client.options.score_config_type,
            description="Created by tracestrata for its annotation queue.",
        )
        return created.id

    def score_config_names(self) -> list[str]:
        """The names of the score configs the queue offers a reviewer (creating nothing)."""
        if self._find_queue() is None:
            return []
        queue = next(q for q in self._queues_seen if q.name == self.name)
        configs = {c.id: c.name for c in _score_configs(self.client)}
        return [configs.get(i, i) for i in queue.score_config_ids]

    # -- SampleSink ----------------------------------------------------------------------
    def _present_traces(self, refresh: bool = False) -> set[str]:
        if self._present is None or refresh:
            api = self.client.api.annotation_queues
            queue_id = self.queue_id
            items = _pages(
                lambda page: self.client.call(
                    "annotation_queues",
                    f"list items of annotation queue {self.name!r}",
                    api.list_queue_items,
                    queue_id,
                    page=page,
                    limit=LIST_LIMIT,
                )
            )
            found = {item.object_id for item in items if item.object_type == "TRACE"}
            if self._present is None:
                self._present = found
            else:  # in place: callers may hold the set
                self._present.clear()
                self._present.update(found)
        return self._present

    def written_ids(self) -> set[str]:
        if self._queue_id is None and self._find_queue() is None:
            return set()  # no queue yet; a read does not create one
        present = self._present_traces()
        known = dict(self._ids)
        known.update(self._read_journal())
        return {item_id for item_id, trace_id in known.items() if trace_id in present}

    def write(self, items: Sequence[SampleItem]) -> WriteResult:
        present = self._present_traces()
        created = unchanged = 0
        ids: list[str] = []
        for item in items:
            if item.trace_id in present:
                unchanged += 1
            else:
                self._add_once(item.trace_id)
                present.add(item.trace_id)
                created += 1
            self._ids[item.item_id] = item.trace_id
            self._append_journal(item)
            ids.append(item.item_id)
        return WriteResult(created=created, unchanged=unchanged, item_ids=tuple(ids))

    def _add_once(self, trace_id: str) -> None:
        """POST one queue item; after a failure that may have committed, look before retrying."""
        api = self.client.api.annotation_queues
        queue_id = self.queue_id
        first = True

        def attempt() -> None:
            nonlocal first
            if not first and trace_id in self._present_traces(refresh=True):
                return
            first = False
            self.client.once(
                "annotation_queues",
                f"add trace {trace_id} to annotation queue {self.name!r}",
                api.create_queue_item,
                queue_id,
                object_id=trace_id,
                object_type=AnnotationQueueObjectType.TRACE,
            )

        try:
            retrying(attempt, policy=self.client.retry_policy, sleep=self.client.sleep)
        except RetriableSourceError:
            self._present = None  # unknown now; the next write lists again
            raise

    # -- journal -------------------------------------------------------------------------
    def _read_journal(self) -> dict[str, str]:
        if self.journal is None or not self.journal.exists():
            return {}
        out: dict[str, str] = {}
        with self.journal.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash
                if entry.get("queue") == self.name:
                    out[entry["item_id"]] = entry["trace_id"]
        return out

    def _append_journal(self, item: SampleItem) -> None:
        if self.journal is None:
            return
        if self._journaled is None:
            self._journaled = set(self._read_journal())
        if item.item_id in self._journaled:
            return
        self._journaled.add(item.item_id)
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"queue": self.name, "item_id": item.item_id, "trace_id": item.trace_id})
        with self.journal.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


__all__ = ["LangfuseDatasetSink", "LangfuseQueueSink"]

"""`--judge module:function`: a Python function (sync or async) as a judge.

The function gets a `JudgeInput` and returns what `verdicts_from` reads: a bool or a
number (the value), a label, a `JudgeVerdict` / mapping (value, label, reason), or
several of them by name. A sync function runs in a thread pool as wide as the run's
concurrency, so a function that waits on the network does not hold up the others.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from tracestrata.errors import ConfigError
from tracestrata.judging.model import JudgeAnswer, JudgeInput, Returned, verdicts_from


class FunctionJudge:
    def __init__(self, fn: Callable[[JudgeInput], Returned | Awaitable[Returned]], *, name: str, version: str | None = None, workers: int = 8) -> None:
        self.fn = fn
        self.name = name
        self.version = version
        self.workers = max(1, workers)
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)
        self._pool: ThreadPoolExecutor | None = None

    async def __call__(self, judge_input: JudgeInput) -> JudgeAnswer:
        if self.is_async:
            returned = await self.fn(judge_input)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tracestrata-judge")
            returned = await asyncio.get_running_loop().run_in_executor(self._pool, self.fn, judge_input)
            if inspect.isawaitable(returned):
                returned = await returned
        return JudgeAnswer(verdicts_from(returned))

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def import_object(spec: str, *, what: str = "--judge", near: str | None = None) -> object:
    """`module:attr` (dotted attr allowed) imported, the working directory first on the path
    as `python -m` would have it (and `near`, the config's folder, after it); a one-line
    `ConfigError` when it cannot be found."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"expected module:function, got {spec!r}", field=what)
    for folder in ([near] if near else []) + [os.getcwd()]:
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", field=what) from None
    target: object = module  # whatever the user named: the caller checks what it is
    for part in attr.split("."):
        try:
            target = getattr(target, part)  # the user's named attribute, not a capability probe
        except AttributeError:
            raise ConfigError(f"{module_name!r} has no {attr!r}", field=what) from None
    return target


def function_judge(spec: str, *, version: str | None = None, workers: int = 8, near: str | None = None) -> FunctionJudge:
    fn = import_object(spec, near=near)
    if not callable(fn):
        raise ConfigError(f"{spec!r} is a {type(fn).__name__}, not a function", field="--judge")
    return FunctionJudge(fn, name=spec, version=version, workers=workers)


__all__ = ["FunctionJudge", "function_judge", "import_object"]

"""Backend adapters. Each subpackage implements the Protocols in `tracestrata.protocols`;
backend SDK imports live only here, imported when a connector is first used.

The built-in connectors are imported directly; third-party ones register a
`create(options)` factory under the `tracestrata.connectors` entry-point group, and a
local one is named `package.module:factory`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from tracestrata.errors import ConfigError
from tracestrata.protocols import Connector, TraceSource
from tracestrata.sampling.sources import skip_bad_input

BUILTIN: dict[str, str] = {
    "files": "tracestrata.connectors.files",
    "phoenix": "tracestrata.connectors.phoenix",
    "langfuse": "tracestrata.connectors.langfuse",
    "export": "tracestrata.connectors.duckdb",
}

#: `--source KIND:LOCATION` of `sample` and `plan`: which connector reads it, and the option naming the location.
SOURCE_SCHEMES: dict[str, tuple[str, str]] = {
    "jsonl": ("files", "path"),
    "files": ("files", "path"),
    "parquet": ("export", "path"),  # export files through DuckDB (tracestrata.connectors.duckdb)
    "duckdb": ("export", "path"),
}

Factory = Callable[[Mapping[str, Any]], Connector]


def connector_factory(name: str) -> Factory:
    """The `create(options)` factory for a connector name (built-in, entry point or `module:factory`).

    Raises `ConfigError` (without a path: the caller adds the file and field) when it cannot be found or imported.
    """
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError, TypeError):
            factory = None
        if factory is None:
            raise ConfigError(f"cannot import connector factory {name!r} (expected package.module:factory)")
        if not callable(factory) or not _takes_options(factory):
            raise ConfigError(
                f"{name!r} is not a connector factory (expected package.module:factory, a callable taking the options dict)"
            )
        return factory  # type: ignore[no-any-return]
    try:
        if name in BUILTIN:
            return importlib.import_module(BUILTIN[name]).create  # type: ignore[no-any-return]
        found = {ep.name: ep for ep in entry_points(group="tracestrata.connectors")}
        if name not in found:
            known = ", ".join(sorted(set(found) | set(BUILTIN)))
            raise ConfigError(f"unknown source {name!r} (installed: {known})")
        return found[name].load()  # type: ignore[no-any-return]
    except ImportError as exc:
        raise ConfigError(
            f"the {name} connector is not installed ({exc.name or exc}); install the {name} extra: pip install '.[{name}]' from a checkout"
        ) from None


def _takes_options(factory: Any) -> bool:
    """Whether `factory(options)` binds: `os:getcwd` is a callable, not a factory."""
    try:
        inspect.signature(factory).bind({})
    except TypeError:
        return False
    except ValueError:  # no signature to read (some builtins): let the call decide
        return True
    return True


def split_source_spec(spec: str, option: str = "--source") -> tuple[str, str]:
    """`KIND:LOCATION` -> (KIND, LOCATION); a bare path (or a Windows drive letter) means jsonl."""
    kind, sep, rest = spec.partition(":")
    if not sep or len(kind) == 1:
        return "jsonl", spec
    if not rest:
        raise ConfigError(f"expected KIND:PATH, got {spec!r}", field=option)
    return kind, rest


def open_trace_source(
    spec: str, *, skip_bad: bool = False, options: Mapping[str, Any] | None = None
) -> tuple[TraceSource, str]:
    """The trace source for `--source KIND:LOCATION` and the name the sample records it under.

    `options` are more connector options (an export's `schema` and `columns`)."""
    kind, location = split_source_spec(spec)
    if kind not in SOURCE_SCHEMES:
        known = ", ".join(f"{k}:PATH" for k in SOURCE_SCHEMES)
        raise ConfigError(
            f"expected one of {known}, got {kind!r}; backends are sampled by `tracestrata sync`", field="--source"
        )
    connector_name, option = SOURCE_SCHEMES[kind]
    if options and connector_name != "export":
        flag = "--schema" if "schema" in options else "--column"
        raise ConfigError(f"applies to parquet: and duckdb: sources, not to {kind}:", field=flag)
    source = connector_factory(connector_name)({option: location, **(options or {})}).trace_source()
    skip_bad_input(source, skip_bad)
    return source, f"{kind}:{location}"

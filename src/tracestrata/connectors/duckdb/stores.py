"""Object stores (S3, GCS, Azure): credentials from the environment, DuckDB's httpfs/azure extension."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tracestrata.errors import InputError, first_line

if TYPE_CHECKING:
    import duckdb

_STORES = {
    "s3": ("httpfs", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")),
    "s3a": ("httpfs", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")),
    "gs": ("httpfs", ("GCS_ACCESS_KEY_ID", "GCS_SECRET_ACCESS_KEY"), ()),
    "gcs": ("httpfs", ("GCS_ACCESS_KEY_ID", "GCS_SECRET_ACCESS_KEY"), ()),
    "az": ("azure", ("AZURE_STORAGE_CONNECTION_STRING",), ("AZURE_STORAGE_ACCOUNT_NAME",)),
    "azure": ("azure", ("AZURE_STORAGE_CONNECTION_STRING",), ("AZURE_STORAGE_ACCOUNT_NAME",)),
    "abfss": ("azure", ("AZURE_STORAGE_CONNECTION_STRING",), ("AZURE_STORAGE_ACCOUNT_NAME",)),
}


def store_scheme(location: str) -> str | None:
    scheme, sep, _ = location.partition("://")
    return scheme.lower() if sep else None


def check_credentials(location: str, environ: Mapping[str, str] | None = None) -> None:
    """An object-store URL needs its credentials in the environment; say which ones, never their values."""
    scheme = store_scheme(location)
    if scheme is None:
        return
    if scheme not in _STORES:
        raise InputError(f"unsupported URL scheme {scheme!r} (known: s3, gs, az, or a local path)", path=location)
    env = os.environ if environ is None else environ
    _, needed, alternatives = _STORES[scheme]
    if all(env.get(k) for k in needed) or any(env.get(k) for k in alternatives):
        return
    options = " and ".join(needed) + (f" (or {' or '.join(alternatives)})" if alternatives else "")
    raise InputError(f"{scheme} credentials missing: set {options} in the environment", path=location)


def open_object_store(con: duckdb.DuckDBPyConnection, location: str) -> None:
    """Load DuckDB's httpfs/azure extension and a secret built from the environment."""
    scheme = store_scheme(location)
    if scheme is None:
        return
    check_credentials(location)
    import duckdb

    extension = _STORES[scheme][0]
    try:
        con.execute(f"INSTALL {extension}")
        con.execute(f"LOAD {extension}")
        if extension == "azure":
            if os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
                con.execute("CREATE SECRET (TYPE azure, CONNECTION_STRING ?)", [os.environ["AZURE_STORAGE_CONNECTION_STRING"]])
            else:
                con.execute(
                    "CREATE SECRET (TYPE azure, PROVIDER credential_chain, ACCOUNT_NAME ?)",
                    [os.environ["AZURE_STORAGE_ACCOUNT_NAME"]],
                )
        elif scheme in ("gs", "gcs"):
            con.execute(
                "CREATE SECRET (TYPE gcs, KEY_ID ?, SECRET ?)",
                [os.environ["GCS_ACCESS_KEY_ID"], os.environ["GCS_SECRET_ACCESS_KEY"]],
            )
        else:
            con.execute("CREATE SECRET (TYPE s3, PROVIDER credential_chain)")
    except duckdb.Error as exc:
        raise InputError(f"cannot open {scheme}:// with DuckDB's {extension} extension: {first_line(exc)}", path=location) from None


__all__ = ["check_credentials", "open_object_store", "store_scheme"]

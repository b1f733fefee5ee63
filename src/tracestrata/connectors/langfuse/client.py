"""The one place the Langfuse SDK is called: rate limit, retry, and error mapping.

Every request goes through `LangfuseClient.call(family, what, fn, **kwargs)`:

    limiter.acquire(family) -> SDK call with its own retries off -> map failures:
        401/403                       -> AuthError naming the key variables
        429 (Retry-After), 408, 5xx,
        timeouts, dropped connections -> RetriableSourceError (retried by tracestrata.io.retry)
        any other 4xx, bad response   -> FatalSourceError

The SDK's own retries (2, only on 429/5xx, none on network errors) are switched off
per request so the retry budget is ours alone. Errors carry no secrets: the SDK's
`ApiError` string includes response headers, so it is never shown; we quote at most
a short excerpt of the response body.
"""

from __future__ import annotations

import email.utils
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TypeVar

import httpx
import orjson
import pydantic
from langfuse.api.client import LangfuseAPI
from langfuse.api.core.api_error import ApiError
from langfuse.api.core.datetime_utils import serialize_datetime
from langfuse.api.core.request_options import RequestOptions

from tracestrata.errors import (
    AuthError,
    FatalSourceError,
    RetriableSourceError,
    SourceError,
)
from tracestrata.io.retry import RetryPolicy, SleepFn, retrying
from tracestrata.protocols import JSONValue
from tracestrata.redaction import redact

from .ratelimit import RateLimiter
from .settings import LangfuseOptions

T = TypeVar("T")
NO_SDK_RETRIES: RequestOptions = {"max_retries": 0}
Query = Mapping[str, object]
"""Query parameters: each value a scalar, a datetime or a list of them (`_query` encodes them as the SDK does)."""


class LangfuseClient:
    """Holds the HTTP connection pool, the SDK client, the limiter and the retry budget."""

    def __init__(
        self,
        options: LangfuseOptions,
        *,
        limiter: RateLimiter | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: SleepFn | None = None,
    ) -> None:
        self.options = options
        self.http = httpx.Client(timeout=options.timeout, follow_redirects=True)
        creds = options.credentials
        self.api = LangfuseAPI(
            base_url=options.base_url,
            username=creds.public_key,
            password=creds.secret_key,
            x_langfuse_public_key=creds.public_key,
            x_langfuse_sdk_name="tracestrata",
            httpx_client=self.http,
            timeout=options.timeout,
        )
        self.sleep = sleep if sleep is not None else time.sleep
        self.limiter = limiter if limiter is not None else RateLimiter(limits=options.rate_limits, sleep=self.sleep)
        self.retry_policy = retry_policy or RetryPolicy(
            attempts=options.retry_attempts, total_seconds=options.retry_seconds
        )
        self.requests: Counter[str] = Counter()
        self._auth = httpx.BasicAuth(creds.public_key, creds.secret_key)
        self._host = httpx.URL(options.base_url).netloc.decode("ascii", "replace").rpartition("@")[2]
        self._headers = {"X-Langfuse-Public-Key": creds.public_key, "X-Langfuse-Sdk-Name": "tracestrata"}

    def call(self, family: str, what: str, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """One API call under the limiter and the retry budget; raises only `SourceError`s."""
        return retrying(self.once, family, what, fn, *args, policy=self.retry_policy, sleep=self.sleep, **kwargs)

    def once(self, family: str, what: str, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """One attempt, no retry (for non-idempotent writes that need a check before retrying)."""
        self.limiter.acquire(family)
        self.requests[family] += 1
        try:
            return fn(*args, **kwargs, request_options=NO_SDK_RETRIES)
        except ApiError as exc:
            raise self.map_api_error(exc, what) from None
        except httpx.TimeoutException:
            raise RetriableSourceError(f"Langfuse {what}: timed out after {self.options.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise RetriableSourceError(
                f"Langfuse {what}: connection to {self._host} failed ({type(exc).__name__}); "
                f"check {self.options.credentials.base_url_env} (or LANGFUSE_HOST)",
                unreachable=isinstance(exc, httpx.ConnectError),
            ) from None
        except pydantic.ValidationError as exc:
            first = exc.errors()[0] if exc.errors() else {}
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise FatalSourceError(
                f"Langfuse {what}: unexpected response shape ({where}: {first.get('msg', 'invalid')})"
            ) from None

    def get_json(self, family: str, what: str, path: str, params: Query) -> JSONValue:
        """GET a JSON document ourselves (the hot pull path), same limiter/retry/error mapping."""
        return self.call(family, what, self._get_json, path, params)

    def cursor_items(
        self, family: str, what: str, path: str, params: Query, parse: Callable[[JSONValue], T]
    ) -> Iterator[T]:
        """Every item of a cursor-paginated list endpoint, each page once; a repeated cursor is an error."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.get_json(family, what, path, {**params, "cursor": cursor})
            try:
                data, cursor = _page(page)
                items = [parse(raw) for raw in data]
            except (KeyError, TypeError, AttributeError, pydantic.ValidationError) as exc:
                raise FatalSourceError(f"Langfuse {what}: unexpected response shape ({exc})") from None
            yield from items
            if not cursor or not data:
                return
            if cursor in seen:
                raise FatalSourceError(f"Langfuse {what}: the server repeated cursor {cursor[:16]}…")
            seen.add(cursor)

    def post_json(self, family: str, what: str, path: str, body: JSONValue) -> JSONValue:
        """POST a JSON document ourselves (e.g. a score with its id), same limiter/retry/error mapping."""
        return self.call(family, what, self._post_json, path, body)

    def _post_json(self, path: str, body: JSONValue, request_options: RequestOptions | None = None) -> JSONValue:
        response = self.http.post(self.options.base_url + path, json=body, auth=self._auth, headers=self._headers)
        return self._decode(response, "POST", path)

    def _get_json(self, path: str, params: Query, request_options: RequestOptions | None = None) -> JSONValue:
        response = self.http.get(
            self.options.base_url + path, params=_query(params), auth=self._auth, headers=self._headers
        )
        return self._decode(response, "GET", path)

    def _decode(self, response: httpx.Response, method: str, path: str) -> JSONValue:
        if response.status_code >= 300:
            try:
                body: object = response.json()
            except ValueError:
                body = response.text
            raise ApiError(status_code=response.status_code, headers=dict(response.headers), body=body)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise FatalSourceError(f"Langfuse {method} {path}: response is not JSON") from None

    def map_api_error(self, exc: ApiError, what: str) -> SourceError:
        status = exc.status_code or 0
        if status in (401, 403):
            return AuthError(
                f"Langfuse refused the credentials (HTTP {status}) for {what}: {self.options.credentials.hint()}"
            )
        if status == 429:
            return RetriableSourceError(
                f"Langfuse {what}: rate limited (HTTP 429)", retry_after=retry_after(exc.headers or {})
            )
        if status == 408 or status >= 500 or status == 0:
            return RetriableSourceError(f"Langfuse {what}: server error (HTTP {status}){_excerpt(exc.body)}")
        return HTTPStatusError(f"Langfuse {what}: HTTP {status}{_excerpt(exc.body)}", status=status)

    def close(self) -> None:
        self.http.close()


class HTTPStatusError(FatalSourceError):
    """A 4xx other than 401/403/408/429: retrying will not help; `status` says which."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def status_of(error: BaseException) -> int | None:
    """The HTTP status behind a `FatalSourceError` from `map_api_error`, if any."""
    return error.status if isinstance(error, HTTPStatusError) else None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `Retry-After` (delta-seconds or an HTTP date) or `retry-after-ms`."""
    lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def _query(params: Query) -> list[tuple[str, str]]:
    """Encode query parameters as the SDK does: ISO datetimes, lowercase booleans, lists repeated."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        for one in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(one, bool):
                out.append((key, "true" if one else "false"))
            elif isinstance(one, datetime):
                out.append((key, serialize_datetime(one)))
            else:
                out.append((key, str(one)))
    return out


def _page(page: JSONValue) -> tuple[list[JSONValue], str | None]:
    """The items and the next cursor of one page; a `TypeError` when it is not shaped as one."""
    data = page.get("data") if isinstance(page, dict) else None
    meta = (page.get("meta") if isinstance(page, dict) else None) or {}
    cursor = meta.get("cursor") if isinstance(meta, dict) else None
    if not isinstance(data, list) or not isinstance(cursor, str | None):
        raise TypeError("expected {data: [...], meta: {cursor}}")
    return data, cursor


def _excerpt(body: object) -> str:
    if body is None or body == "":
        return ""
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
    text = redact(" ".join(str(body).split()))  # before the cut: never half a key
    return f": {text[:200]}"


__all__ = ["HTTPStatusError", "LangfuseClient", "retry_after", "status_of"]

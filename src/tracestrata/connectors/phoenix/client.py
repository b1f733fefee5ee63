"""The one place Phoenix HTTP failures become tracestrata errors.

    401/403                      -> AuthError ("set PHOENIX_API_KEY"; never the key)
    429, 5xx, timeouts, resets   -> RetriableSourceError (retried by tracestrata.io.retry)
    other 4xx                    -> FatalSourceError with Phoenix's own message

Every request goes through `PhoenixHTTP.request`, which retries within the
configured `RetryPolicy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx

from tracestrata.errors import AuthError, FatalSourceError, RetriableSourceError
from tracestrata.redaction import redact
from tracestrata.io.retry import RetryPolicy, retrying
from tracestrata.protocols import JSONObject, JSONValue

from .settings import PhoenixSettings

QueryValue = str | int | float | bool | None | Sequence[str]
"""One query parameter's value (a list: the parameter repeated)."""

RETRIABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class PhoenixHTTP:
    def __init__(self, settings: PhoenixSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        headers = {"User-Agent": "tracestrata"}
        key = settings.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.Client(
            base_url=settings.base_url,
            headers=headers,
            timeout=httpx.Timeout(settings.timeout, connect=min(10.0, settings.timeout)),
            transport=transport,
        )
        self.retry_policy = RetryPolicy(
            attempts=settings.retry_attempts, total_seconds=settings.retry_seconds, initial=settings.retry_initial
        )

    def close(self) -> None:
        self.client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        allow: tuple[int, ...] = (),
        params: Mapping[str, QueryValue] | None = None,
        json: JSONValue = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; return the response if 2xx or in `allow`, else raise a typed error."""
        return retrying(self._once, method, path, allow, params, json, headers, policy=self.retry_policy)

    def json(
        self, method: str, path: str, *, params: Mapping[str, QueryValue] | None = None, json: JSONValue = None
    ) -> JSONObject:
        return response_json(self.request(method, path, params=params, json=json))

    def _once(
        self,
        method: str,
        path: str,
        allow: tuple[int, ...],
        params: Mapping[str, QueryValue] | None,
        json: JSONValue,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        try:
            response = self.client.request(method, path, params=params, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            raise RetriableSourceError(f"Phoenix at {self.settings.shown_url} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RetriableSourceError(
                f"cannot reach Phoenix at {self.settings.shown_url} ({type(exc).__name__}); "
                "is the server running? (PHOENIX_BASE_URL)",
                unreachable=isinstance(exc, httpx.ConnectError),
            ) from None
        status = response.status_code
        if status < 300 or status in allow:
            return response
        raise self._error(response)

    def _error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        where = f"Phoenix {response.request.method} {response.request.url.path}"
        if status in (401, 403):
            env = self.settings.api_key_env
            state = "is set but was rejected" if self.settings.api_key() else "is not set"
            return AuthError(f"{where}: HTTP {status}: {env} {state}; set {env} to a valid Phoenix API key")
        detail = _detail(response)
        if status in RETRIABLE_STATUS:
            retry_after = _retry_after(response)
            return RetriableSourceError(f"{where}: HTTP {status}: {detail}", retry_after=retry_after)
        return FatalSourceError(f"{where}: HTTP {status}: {detail}")


def response_json(response: httpx.Response) -> JSONObject:
    """The body as a JSON object, or one line (exit 3) when a proxy or another server answered a page."""
    try:
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("not an object")
        return body
    except ValueError:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise FatalSourceError(
            f"Phoenix {response.request.method} {response.request.url.path}: HTTP {response.status_code} "
            f"answered {kind}, not JSON: is base_url a Phoenix server (not a proxy's or a login page)?"
        ) from None


def _detail(response: httpx.Response) -> str:
    """Phoenix's message, redacted before it is cut (a cut must not leave half a key)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return redact(text)[:300] if text else response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return redact(str(body["detail"]))[:300]
    return redact(str(body))[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None

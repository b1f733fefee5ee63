"""Made-up secrets (built at run time, never key-shaped literals) and every form a server may echo."""

import base64
import json
import secrets
from urllib.parse import quote, quote_plus


def made_up(prefix: str) -> str:
    """A fresh random value; `prefix` only says which credential it plays."""
    return f"{prefix}{'-' if prefix else ''}{secrets.token_hex(12)}"


def forms_of(value: str) -> list[str]:
    """The value, its base64 (standard, url-safe, unpadded) and URL-encoded forms."""
    raw = value.encode()
    b64 = base64.b64encode(raw).decode()
    return sorted(
        {
            value,
            b64,
            b64.rstrip("="),
            base64.urlsafe_b64encode(raw).decode(),
            quote(value, safe=""),
            quote(value),
            quote_plus(value),
            json.dumps(value)[1:-1],
        }
    )

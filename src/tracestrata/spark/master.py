"""Whether a cluster's Spark master can be reached, asked before any JVM starts.

Spark's standalone client retries a master it cannot reach three times, 20 seconds each
(not configurable), logs a Java stack trace per attempt and ends in "Cannot call methods
on a stopped SparkContext". One TCP connection to each address in the master URL, with a
short timeout, tells the user in one line instead (exit 6: the backend cannot be reached).
"""

from __future__ import annotations

import socket
from urllib.parse import SplitResult, urlsplit

from tracestrata.errors import ConfigError, FailingError
from tracestrata.redaction import display_url, split_userinfo

#: Seconds to wait for one address of the master to accept a connection.
CONNECT_TIMEOUT = 5.0

_DEFAULT_PORTS = {"spark": 7077, "k8s": 443}


def master_addresses(master: str) -> list[tuple[str, int]]:
    """The (host, port) pairs a master URL names: `spark://h1:7077,h2:7077` (standalone, with
    standby masters), `k8s://https://host:443`; none for `local[...]`, `yarn` and the rest. A login
    in an address is dropped (never shown); a port that is not a number in 0-65535 is a `ConfigError`."""
    scheme, _, rest = master.partition("://")
    if scheme == "k8s":
        url = urlsplit(split_userinfo(rest if "://" in rest else "https://" + rest)[0])
        port = _port(url, master, 80 if url.scheme == "http" else _DEFAULT_PORTS["k8s"])
        return [(url.hostname, port)] if url.hostname else []
    if scheme != "spark":
        return []
    out = []
    for part in rest.split(","):  # the login is split off first: a password may hold `/`
        url = urlsplit(split_userinfo("spark://" + part.strip())[0])
        if url.hostname:
            out.append((url.hostname, _port(url, master, _DEFAULT_PORTS["spark"])))
    return out


def _port(url: SplitResult, master: str, default: int) -> int:
    try:
        return default if url.port is None else url.port
    except ValueError:  # "Port out of range 0-65535", "Port could not be cast to integer value"
        raise ConfigError(
            f"the Spark master {shown_master(master)} has a bad port in {url.netloc.rpartition('@')[2]!r}: "
            "a port is a number from 0 to 65535",
            field="--master",
        ) from None


def shown_master(master: str) -> str:
    """The master URL for messages, without a login (`k8s://` wraps a URL of its own)."""
    scheme, sep, rest = master.partition("://")
    if scheme == "k8s" and "://" in rest:
        return f"{scheme}{sep}{display_url(rest)}"
    if scheme == "spark":  # standby masters: `spark://h1:7077,h2:7077`
        return sep.join([scheme, ",".join(display_url(f"{scheme}{sep}{part}")[len(scheme + sep):]
                                          for part in rest.split(","))])
    return display_url(master)


def require_reachable(master: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """`FailingError` (exit 6) naming the master when no address of it accepts a connection."""
    addresses = master_addresses(master)
    reasons = []
    for host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except (OSError, OverflowError) as exc:  # OverflowError: a port the socket layer refuses
            reasons.append(f"{host}:{port}: {getattr(exc, 'strerror', None) or str(exc) or type(exc).__name__}")
    if addresses:
        raise FailingError(
            f"cannot reach the Spark master {shown_master(master)} ({'; '.join(reasons)}): check the URL and that "
            "the master is running",
            field="--master",
        )


__all__ = ["CONNECT_TIMEOUT", "master_addresses", "require_reachable", "shown_master"]

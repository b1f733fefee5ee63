"""Whether a cluster's Spark master can be reached, asked before any JVM starts.

Spark's standalone client retries a master it cannot reach three times, 20 seconds each
(not configurable), logs a Java stack trace per attempt and ends in "Cannot call methods
on a stopped SparkContext". One TCP connection to each address in the master URL, with a
short timeout, tells the user in one line instead (exit 6: the backend cannot be reached).
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from tracestrata.errors import FailingError

#: Seconds to wait for one address of the master to accept a connection.
CONNECT_TIMEOUT = 5.0

_DEFAULT_PORTS = {"spark": 7077, "k8s": 443}


def master_addresses(master: str) -> list[tuple[str, int]]:
    """The (host, port) pairs a master URL names: `spark://h1:7077,h2:7077` (standalone, with
    standby masters), `k8s://https://host:443`; none for `local[...]`, `yarn` and the rest."""
    scheme, _, rest = master.partition("://")
    if scheme == "k8s":
        url = urlsplit(rest if "://" in rest else "https://" + rest)
        port = url.port or (80 if url.scheme == "http" else _DEFAULT_PORTS["k8s"])
        return [(url.hostname, port)] if url.hostname else []
    if scheme != "spark":
        return []
    out = []
    for part in rest.split("/")[0].split(","):
        host, _, port = part.rpartition(":") if part.rpartition(":")[2].isdigit() else (part, "", "")
        if host:
            out.append((host.strip("[]"), int(port) if port else _DEFAULT_PORTS["spark"]))
    return out


def require_reachable(master: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """`FailingError` (exit 6) naming the master when no address of it accepts a connection."""
    addresses = master_addresses(master)
    reasons = []
    for host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as exc:
            reasons.append(f"{host}:{port}: {exc.strerror or str(exc) or type(exc).__name__}")
    if addresses:
        raise FailingError(
            f"cannot reach the Spark master {master} ({'; '.join(reasons)}): check the URL and that the master is running",
            field="--master",
        )


__all__ = ["CONNECT_TIMEOUT", "master_addresses", "require_reachable"]

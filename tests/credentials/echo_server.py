"""A backend on 127.0.0.1 that echoes every request header and the URL back in its answer.

What a misconfigured proxy or a chatty backend does: `mode` 400, 401 or 500 answers that
status with a JSON body quoting the request; 200 answers a non-JSON page doing the same.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class _Echo(BaseHTTPRequestHandler):
    server: EchoServer

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        headers = {k: v for k, v in self.headers.items()}
        mode = self.server.mode
        if mode == 200:
            body = f"<html>proxy page: {self.command} {self.path} {headers}</html>".encode()
            kind = "text/html"
        else:
            echo = f"rejected {self.command} {self.path} " + " ".join(f"{k}={v}" for k, v in headers.items())
            body = json.dumps({"detail": echo, "message": echo, "headers": headers, "url": self.path}).encode()
            kind = "application/json"
        self.send_response(mode)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: int) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.mode = mode
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

"""A real local HTTP server whose pages a test (or a bench script) edits.

Serves ``routes`` (a Reply, or a callable returning one) on 127.0.0.1; answers If-None-Match
with 304 when the body's ETag matches; records every request.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["LocalServer", "Reply", "Request"]


@dataclass
class Reply:
    """What the local server answers for one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0  # seconds to sleep before answering
    conditional: bool = True  # answer If-None-Match / If-Modified-Since with 304


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    at: float
    client_port: int = 0  # tells one client connection from another


Route = Reply | Callable[[Request], Reply]


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 serving ``routes``; every request is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body leave in one send: written apart, a kept-alive connection
            # waits out the client's delayed ACK (~40 ms) on every response
            wbufsize = 1 << 16

            def do_GET(self) -> None:
                request = Request(
                    "GET",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    time.monotonic(),
                    self.client_address[1],
                )
                with server._lock:
                    server.requests.append(request)
                    route = server.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    reply = Reply(b"not found", status=404, content_type="text/plain")
                else:
                    reply = route(request) if callable(route) else route
                if reply.delay:
                    time.sleep(reply.delay)
                etag = '"' + hashlib.sha256(reply.body).hexdigest()[:16] + '"'
                if (
                    reply.status == 200
                    and reply.conditional
                    and request.headers.get("if-none-match") == etag
                ):
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(reply.status)
                if reply.status == 200 and reply.conditional:
                    self.send_header("ETag", etag)
                self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hangs up early (a size cap, a timeout) is expected here

        self._httpd = QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set(self, path: str, body: str | bytes, **kwargs: object) -> str:
        """Serve ``body`` at ``path``; returns the full URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Reply(data, **kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.split("?", 1)[0] == path)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

"""A real HTTP server on loopback that serves feeds the way publishers do (and misbehave)."""

from __future__ import annotations

import contextlib
import gzip
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str = ""
    last_modified: str = ""
    delay: float = 0.0  # seconds before answering
    drip: float = 0.0  # seconds between one-byte writes of the body
    drip_headers: float = 0.0  # seconds between one-byte writes of the status line and headers
    gzip: bool = False
    declare_length: bool = True


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class FeedServer:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append(Seen(self.path, dict(self.headers)))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                server.answer(self, route)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "https" if ssl_context else "http"
        if ssl_context:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        # A TLS server's certificate names "localhost", so its URLs do too.
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.httpd.server_address[1]}{path}"

    def route(self, path: str, **kwargs: object) -> str:
        self.routes[path] = Route(**kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def answer(self, handler: BaseHTTPRequestHandler, route: Route) -> None:
        time.sleep(route.delay)
        if route.drip_headers:
            self.drip_headers(handler, route)
            return
        fresh = (route.etag and handler.headers.get("If-None-Match") == route.etag) or (
            route.last_modified and handler.headers.get("If-Modified-Since") == route.last_modified
        )
        if fresh:
            handler.send_response(304)
            handler.end_headers()
            return
        body = gzip.compress(route.body) if route.gzip else route.body
        handler.send_response(route.status)
        for name, value in route.headers.items():
            handler.send_header(name, value)
        if route.etag:
            handler.send_header("ETag", route.etag)
        if route.last_modified:
            handler.send_header("Last-Modified", route.last_modified)
        if route.gzip:
            handler.send_header("Content-Encoding", "gzip")
        if route.declare_length:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not route.drip:
            handler.wfile.write(body)
            return
        try:
            for i in range(len(body)):
                handler.wfile.write(body[i : i + 1])
                handler.wfile.flush()
                time.sleep(route.drip)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def drip_headers(self, handler: BaseHTTPRequestHandler, route: Route) -> None:
        """A server that never finishes its headers: each byte in time, the whole never."""
        head = (
            f"HTTP/1.1 {route.status} OK\r\nContent-Type: application/rss+xml\r\n"
            f"X-Padding: {'x' * 200}\r\nContent-Length: {len(route.body)}\r\n\r\n"
        ).encode()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for i in range(len(head)):
                handler.wfile.write(head[i : i + 1])
                handler.wfile.flush()
                time.sleep(route.drip_headers)
            handler.wfile.write(route.body)

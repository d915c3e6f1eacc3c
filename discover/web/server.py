"""`discover serve`: a local, read-only web view of a runs directory.

Why the standard library's ThreadingHTTPServer and not an ASGI stack: the view is a handful of GET routes over a
synchronous SQLite store, polled every two seconds by one person's browser; a thread per request suits blocking
reads, and it adds no dependency to install or keep in step with litellm's pins. Every asset ships in the package
(discover/web/static); nothing is fetched from a CDN.

Safety: loopback by default; a strict Content-Security-Policy (only our own scripts, styles and JSON endpoints);
the Host header must name the address we listen on (a page on another site cannot reach us through DNS
rebinding); the store is opened read-only."""

from __future__ import annotations

import json
import mimetypes
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from discover.errors import DiscoverError, StoreError
from discover.store import Store
from discover.web.data import (
    candidate_view,
    fingerprint,
    open_store,
    run_index,
    run_view,
    runs_view,
)
from discover.web.page import HEADER_CSP, pygments_css, render_page

STATIC_FILES = ("app.js", "app.css", "chart.umd.min.js", "chart.js.LICENSE.txt")


def static_bytes(name: str) -> bytes:
    if name == "pygments.css":
        return pygments_css().encode()
    return resources.files("discover.web").joinpath("static", name).read_bytes()


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store_opener: Any) -> None:
        super().__init__(address, Handler)
        self._open = store_opener
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._views: dict[str, tuple[str, dict[str, Any]]] = {}

    def run_view(self, run_id: str) -> dict[str, Any]:
        """The run view, recomputed only when the run's fingerprint changed (a page polls every few seconds; on a
        large run the full view costs a second of CPU the running search would rather have)."""
        store = self.store()
        run = store.get_run(run_id)
        cands = store.candidates(run.id)
        fp = fingerprint(store, run, cands)
        with self._lock:
            hit = self._views.get(run.id)
        if hit is not None and hit[0] == fp:
            return hit[1]
        started = time.perf_counter()
        view = run_view(store, run.id, run_index(store, run.id, cands))
        view["compute_s"] = round(time.perf_counter() - started, 3)  # the page polls less often when this is large
        with self._lock:
            self._views[run.id] = (fp, view)
        return view

    def store(self) -> Store:
        """Opened on first use: `discover serve` may start before the first run has created the database."""
        with self._lock:
            if self._store is None:
                self._store = self._open()
            return self._store

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host if ':' not in str(host) else f'[{host}]'}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: ViewServer
    server_version = "discover"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the terminal shows the URL, not every poll

    def _allowed_host(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        bound = str(self.server.server_address[0]).lower()
        return host in {bound, "localhost", "127.0.0.1", "::1"} or bound in {"0.0.0.0", "::"}

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", HEADER_CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data, default=str).encode(), "application/json; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._allowed_host():
            self._send(HTTPStatus.MISDIRECTED_REQUEST, b"wrong host", "text/plain; charset=utf-8")
            return
        path = unquote(urlsplit(self.path).path)
        try:
            if path in ("/", "/index.html"):
                self._send(200, render_page(mode="serve").encode(), "text/html; charset=utf-8")
            elif path.startswith("/static/"):
                name = path[len("/static/"):]
                if name not in (*STATIC_FILES, "pygments.css"):
                    raise FileNotFoundError(name)
                ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                self._send(200, static_bytes(name), f"{ctype}; charset=utf-8" if ctype.startswith(("text", "application/j")) else ctype)
            elif path == "/api/runs":
                self._json(runs_view(self.server.store()))
            elif path.startswith("/api/runs/"):
                self._json(self.server.run_view(path[len("/api/runs/"):]))
            elif path.startswith("/api/candidates/"):
                self._json(candidate_view(self.server.store(), path[len("/api/candidates/"):]))
            else:
                self._json({"error": f"no such page: {path}"}, 404)
        except FileNotFoundError:
            self._json({"error": f"no such file: {path}"}, 404)
        except StoreError as exc:
            self._json({"error": exc.message}, 404)
        except DiscoverError as exc:
            self._json({"error": exc.message}, 500)


def make_server(runs_dir: Path | str, host: str = "127.0.0.1", port: int = 8765) -> ViewServer:
    try:
        return ViewServer((host, port), lambda: open_store(runs_dir))
    except OSError as exc:
        raise DiscoverError(f"cannot listen on {host}:{port}: {exc.strerror} (pick another --port)", host=host,
                            port=port) from exc

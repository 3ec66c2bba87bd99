"""Live preview: build the web edition, serve it on localhost only, rebuild when an input changes,
and reload the page. A broken input shows its ``check`` messages on the page; the server lives on."""

from __future__ import annotations

import html
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .build import TOOL_STYLES, BuildError, BuildOptions, prepare
from .writers.html import render_page

RELOAD_SCRIPT = """
(function () {
  var seen = null;
  function poll() {
    fetch("/__scholia/version", {cache: "no-store"}).then(function (r) { return r.text(); }).then(function (v) {
      if (seen !== null && v !== seen) { window.location.reload(); }
      seen = v;
    }).catch(function () {}).then(function () { setTimeout(poll, 400); });
  }
  poll();
})();
"""


def _snapshot(folders: list[Path]) -> dict[str, tuple[int, int]]:
    """Modification time and size of every file under the watched folders."""
    out: dict[str, tuple[int, int]] = {}
    for folder in folders:
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file() and not path.name.startswith("."):
                    st = path.stat()
                    out[str(path)] = (st.st_mtime_ns, st.st_size)
    return out


class Preview:
    """The current page (or error page), rebuilt by a watcher thread."""

    def __init__(self, root: Path, options: BuildOptions):
        self.root = root
        self.options = replace(options, formats=("html",))
        self.watched = [root / "source", root / "annotations", root / "styles", TOOL_STYLES]
        self.lock = threading.Lock()
        self.page = b""
        self.version = 0
        self.stop = threading.Event()
        self._seen: dict[str, tuple[int, int]] = {}

    def rebuild(self) -> None:
        started = time.perf_counter()
        try:
            _, rendered, ctx = prepare(self.root, self.options)
            page = render_page(rendered, ctx, RELOAD_SCRIPT, connect=True).encode("utf-8")
            status = "built"
        except BuildError as exc:
            page = _error_page(str(exc)).encode("utf-8")
            status = "errors"
        except Exception as exc:  # noqa: BLE001 -- a preview must survive anything an edit can cause
            page = _error_page(f"{type(exc).__name__}: {exc}").encode("utf-8")
            status = "failed"
        with self.lock:
            self.page = page
            self.version += 1
        print(f"preview {status} in {time.perf_counter() - started:.2f} s (version {self.version})", flush=True)

    def watch(self, interval: float = 0.25) -> None:
        self._seen = _snapshot(self.watched)
        while not self.stop.wait(interval):
            now = _snapshot(self.watched)
            if now != self._seen:
                self._seen = now
                self.rebuild()


def _error_page(message: str) -> str:
    body = html.escape(message)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Edition has errors</title>"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; connect-src 'self'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
            "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
            "pre{white-space:pre-wrap;background:#fff3f3;border-left:4px solid #b00020;padding:1rem}</style></head>"
            f"<body><main><h1>The edition has errors</h1><pre class=\"check-errors\">{body}</pre>"
            "<p>Fix the file and save: this page reloads by itself.</p></main>"
            f"<script>{RELOAD_SCRIPT}</script></body></html>")


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/__scholia/version":
                with preview.lock:
                    data = str(preview.version).encode()
                self._send(200, data, "text/plain")
            elif path in ("/", "/index.html"):
                with preview.lock:
                    data = preview.page
                self._send(200, data, "text/html; charset=utf-8")
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, code: int, data: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


def serve(root: Path, options: BuildOptions, port: int = 8000) -> None:
    """Serve on 127.0.0.1 only (never on other interfaces) until interrupted."""
    preview = Preview(root, options)
    preview.rebuild()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(preview))
    watcher = threading.Thread(target=preview.watch, daemon=True)
    watcher.start()
    print(f"serving {root} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        preview.stop.set()
        server.server_close()
    print("preview stopped", flush=True)

"""A webhook receiver of the tests' own: a real HTTP server on loopback that can be down,
answer 500, be slow, or hang until released; it records every request it accepted (200)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """Behaviour for the next requests, and what was accepted."""

    port: int = 0
    fail_next: int = 0  # answer 500 to this many requests first
    delay: threading.Event | None = None  # hold each answer until this is set
    accepted: list[tuple[str, str, Any]] = field(default_factory=list)  # path, key, body
    seen: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """Listen (again) on ``port`` (0: a free one, remembered)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    receiver.seen += 1
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                if receiver.delay is not None:
                    receiver.delay.wait(30)
                if failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                with receiver._lock:
                    key = self.headers.get("Idempotency-Key", "")
                    receiver.accepted.append((self.path, key, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Go down: nothing listens on the port until ``start`` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

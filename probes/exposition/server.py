"""Serving ``/metrics``: parse ``--listen``, start ``prometheus_client``'s HTTP server.

The registry holds only ``StoreCollector`` (no process metrics of the exporter
itself), so what a scrape shows is the store's figures and the store's health.
Nothing listens beyond loopback unless ``--listen`` names another address.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from probes.config import Settings
from probes.errors import StartError, UsageError
from probes.exposition.collector import StoreCollector
from probes.results import ResultStore

DEFAULT_LISTEN = "127.0.0.1:9464"


@dataclass
class Exporter:
    """A running ``/metrics`` server; ``port`` is the real one (``:0`` picks a free one)."""

    server: WSGIServer
    thread: threading.Thread
    host: str
    port: int

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def parse_listen(text: str, flag: str = "--listen") -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) -> (host, port); ``UsageError`` naming the flag."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{flag}: expected HOST:PORT such as {DEFAULT_LISTEN}, got {text!r}")
    return host, int(port)


def serve_metrics(store: ResultStore, settings: Settings, listen: str, flag: str) -> Exporter:
    """Start serving ``/metrics`` for ``store`` on ``listen`` in a daemon thread."""
    host, port = parse_listen(listen, flag)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, settings))
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise StartError(f"{flag}: cannot listen on {listen}: {exc.strerror}") from None
    return Exporter(server, thread, host, int(server.server_address[1]))

"""``slawatch exporter``, the ``--metrics-listen`` of ``run`` and ``up``, and their alerting."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Iterator

from probes.alerting.service import Alerting
from probes.cli.common import open_store
from probes.config import Settings
from probes.exposition.server import DEFAULT_LISTEN, Exporter, serve_metrics
from probes.results import ResultStore


def exporter(args: argparse.Namespace, settings: Settings) -> int:
    """Serve ``/metrics`` from the store until interrupted."""
    with (
        open_store(settings) as store,
        metrics(store, settings, args.listen, "--listen"),
        contextlib.suppress(KeyboardInterrupt),
    ):
        threading.Event().wait()
    return 0


@contextlib.contextmanager
def metrics(
    store: ResultStore, settings: Settings, listen: str | None, flag: str
) -> Iterator[Exporter | None]:
    """A ``/metrics`` server while the block runs (none when ``listen`` is None)."""
    if listen is None:
        yield None
        return
    served = serve_metrics(store, settings, listen, flag)
    print(f"metrics    http://{served.host}:{served.port}/metrics", file=sys.stderr, flush=True)
    try:
        yield served
    finally:
        served.stop()


@contextlib.asynccontextmanager
async def alerting(store: ResultStore, settings: Settings) -> AsyncIterator[Alerting]:
    """Incidents and notifications in their own task while the block runs."""
    alerts = Alerting(store, settings)
    task = asyncio.get_running_loop().create_task(alerts.run())
    try:
        yield alerts
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def add_exporter_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    p = sub.add_parser("exporter", help="serve the stored figures as Prometheus /metrics")
    p.add_argument(
        "--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
        help=f"address of /metrics (default {DEFAULT_LISTEN})",
    )  # fmt: skip
    p.set_defaults(func=exporter)
    return p

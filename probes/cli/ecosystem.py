"""``slawatch exporter``, ``--metrics-listen``, the alerting of ``run``/``up``, ``slawatch slo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from probes.alerting.service import Alerting
from probes.cli.common import open_store, output
from probes.config import Settings
from probes.errors import UsageError
from probes.exposition.server import DEFAULT_LISTEN, Exporter, serve_metrics
from probes.results import DATABASE_ERRORS, ResultStore
from probes.slo_formats import from_openslo, to_openslo, to_sloth

log = logging.getLogger("slawatch.exporter")


def exporter(args: argparse.Namespace, settings: Settings) -> int:
    """Serve ``/metrics`` from the store until interrupted.

    The objectives are tracked first, as a runner does at its start: a store
    no runner of this configuration has written yet gets its SLI cache filled
    here, not during the first scrape (which Prometheus would time out).
    """
    with open_store(settings) as store:
        try:
            store.track_slis(settings.slos)
        except DATABASE_ERRORS as exc:  # locked or read-only: the first scrape fills instead
            log.warning("SLI cache not filled at start: %s", exc)
        with (
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


def slo_export(args: argparse.Namespace, settings: Settings) -> int:
    """The configured objectives as OpenSLO v1 documents or a Sloth spec."""
    text = to_sloth(settings.slos) if args.format == "sloth" else to_openslo(settings.slos)
    with output(args.output) as out:
        out.write(text)
    return 0


def slo_import(args: argparse.Namespace, settings: Settings) -> int:
    """OpenSLO v1 documents -> ``[[slo]]`` tables (TOML) for ``slawatch.toml``."""
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.file}: cannot read: {exc}") from None
    toml = from_openslo(text)
    with output(args.output) as out:
        out.write(toml)
    return 0


def add_slo_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = sub.add_parser("slo", help="objectives as OpenSLO or Sloth documents, and back")
    verbs = p.add_subparsers(
        dest="slo_command", required=True, metavar="VERB", help="export or import"
    )
    e = verbs.add_parser("export", help="write the objectives as OpenSLO v1 or a Sloth spec")
    common(e)
    e.add_argument("--format", choices=("openslo", "sloth"), default="openslo")
    e.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    e.set_defaults(func=slo_export)
    i = verbs.add_parser("import", help="read OpenSLO v1 SLO documents into [[slo]] TOML")
    common(i)
    i.add_argument("file", type=Path, help="a YAML file of OpenSLO v1 SLO documents")
    i.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    i.set_defaults(func=slo_import)

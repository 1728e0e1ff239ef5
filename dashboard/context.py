"""What the dashboard process was started with: the settings and the store URL.

``slawatch dashboard`` runs ``streamlit run dashboard/app.py ... -- --db URL
[--config PATH]``; Streamlit hands the words after ``--`` to the app as
``sys.argv[1:]``. That is the one way in, for the CLI, a plain ``streamlit
run`` and ``AppTest`` alike. No Streamlit import here.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from probes.config import Settings, load_settings
from probes.errors import ConfigError
from probes.results import check_url, safe_url


@dataclass(frozen=True, slots=True)
class Context:
    """The settings in force and where they came from."""

    settings: Settings
    config: Path | None  # None: ./slawatch.toml when present, else the defaults

    @property
    def url(self) -> str:
        """The results store's SQLAlchemy URL (``--db`` or ``[store] url``)."""
        return self.settings.store.url

    @property
    def safe_url(self) -> str:
        """The store URL with any password masked, for showing on a page."""
        return safe_url(self.url)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dashboard/app.py", add_help=False, exit_on_error=False)
    parser.add_argument("--db", help="results store SQLAlchemy URL (overrides [store] url)")
    parser.add_argument("--config", type=Path, help="settings file (default ./slawatch.toml)")
    return parser


def load_context(argv: Sequence[str]) -> Context:
    """``argv`` (the words after ``--``) -> settings; ``ConfigError`` says what is wrong."""
    try:
        args, unknown = _parser().parse_known_args(list(argv))
    except argparse.ArgumentError as exc:
        raise ConfigError(f"dashboard arguments: {exc}") from None
    if unknown:
        raise ConfigError(
            f"dashboard arguments: unknown {' '.join(unknown)} (known: --db URL, --config PATH)"
        )
    settings = load_settings(args.config)
    if args.db:
        try:
            check_url(args.db)
        except ValueError as exc:
            raise ConfigError(f"--db: {exc}") from None
        settings = replace(settings, store=replace(settings.store, url=args.db))
    return Context(settings=settings, config=args.config)

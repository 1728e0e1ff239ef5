"""The installed slawatch version, for ``slawatch --version`` and the reports' facts."""

from __future__ import annotations

import importlib.metadata


def slawatch_version() -> str:
    """The version of the installed distribution, or a plain note when it is not installed."""
    try:
        return importlib.metadata.version("slawatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"

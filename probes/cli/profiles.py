"""``slawatch profiles`` (the profiles in force) and ``slawatch profiles show NAME|FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path

from probes import tables
from probes.config import Settings
from probes.errors import UsageError
from probes.profiles.model import Profile
from probes.profiles.registry import in_force, resolve
from probes.profiles.render import to_toml
from probes.target.tokens import static_secret


def _listed(settings: Settings) -> list[Profile]:
    """Built-ins, the config's ``[[profiles]]``, then files the probes name."""
    out = list(in_force(settings.profiles))
    for probe in settings.probes:
        if all(p.name != probe.profile.name for p in out):
            out.append(probe.profile)
    return out


def command(args: argparse.Namespace, settings: Settings) -> int:
    if args.action is None:
        if args.name:
            raise UsageError(f"profiles: unknown action {args.name!r} (try: show NAME)")
        rows = [
            [
                p.name,
                p.frame,
                "/".join(p.auth.modes),
                p.auth.token,
                p.origin or "built-in",
                ", ".join(q.name for q in settings.probes if q.profile.name == p.name) or "-",
            ]
            for p in _listed(settings)
        ]
        header = ["profile", "frame", "auth", "token", "from", "probes"]
        print(tables.render(header, rows))
        return 0
    if not args.name:
        raise UsageError("profiles show: name a profile (see `slawatch profiles`) or a file")
    profile = resolve(args.name, settings.profiles, base=Path.cwd())
    print(to_toml(profile), end="")
    return 0


def check_credentials(settings: Settings) -> None:
    """Stop before any round when a probe's ``env:NAME`` secret is not set (ConfigError)."""
    for probe in settings.probes:
        static_secret(probe.profile)

"""Which profiles are in force and how a probe's ``profile = NAME|PATH`` finds one.

Built-in profiles are TOML files shipped as package data (``builtin/``), in the
same format as a user's profile file, so ``slawatch profiles show`` prints
exactly what the probe runs. Names from the config's ``[[profiles]]`` may not
shadow a built-in (one name, one meaning).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path

from probes.errors import ConfigError
from probes.profiles.model import Profile
from probes.profiles.parse import parse_profile

DEFAULT_PROFILE = "agent-chat-v1"
BUILTIN_NAMES: tuple[str, ...] = ("agent-chat-v1", "openai-realtime-text", "graphql-transport-ws")


def builtin_text(name: str) -> str:
    """The shipped TOML text of built-in profile ``name``."""
    return resources.files("probes.profiles").joinpath(f"builtin/{name}.toml").read_text("utf-8")


@cache
def builtin(name: str) -> Profile:
    """Built-in profile ``name`` (parsed once per process)."""
    if name not in BUILTIN_NAMES:
        raise ConfigError(f"profile {name!r}: no such built-in ({', '.join(BUILTIN_NAMES)})")
    return parse_text(builtin_text(name), origin="built-in")


def parse_text(text: str, *, origin: str) -> Profile:
    """A profile file's text (top-level keys of one ``[[profiles]]`` entry) -> ``Profile``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profile file {origin}: not valid TOML: {exc}") from None
    table = _unwrapped(doc)
    if not isinstance(table, Mapping):
        raise ConfigError(f"profile file {origin}: [[profiles]] must hold a table")
    return parse_profile(table, origin=origin)


def _unwrapped(doc: dict[str, object]) -> object:
    """A file written as one ``[[profiles]]`` entry (or a ``[profile]`` table) is read as
    that entry: the format is the entry's keys at the top, but a copy from a config works."""
    entries = doc.get("profiles")
    if set(doc) == {"profiles"} and isinstance(entries, list) and len(entries) == 1:
        return entries[0]
    if set(doc) == {"profile"} and isinstance(doc["profile"], dict):
        return doc["profile"]
    return doc


def load_file(path: Path) -> Profile:
    """Read one profile file; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"profile file {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"profile file {path}: not UTF-8 text") from None
    return parse_text(text, origin=str(path))


def config_profiles(tables: Iterable[object]) -> tuple[Profile, ...]:
    """The config's ``[[profiles]]`` entries, validated, unique, not shadowing a built-in."""
    seen: set[str] = set(BUILTIN_NAMES)
    out = []
    for i, table in enumerate(tables):
        if not isinstance(table, Mapping):
            raise ConfigError(f"profiles[{i}]: must be a table")
        try:
            profile = parse_profile(table, origin=f"config profiles[{i}]")
        except ConfigError as exc:
            raise ConfigError(f"profiles[{i}]: {exc}") from None
        if profile.name in seen:
            raise ConfigError(f"profiles[{i}].name: {profile.name!r} is already defined")
        seen.add(profile.name)
        out.append(profile)
    return tuple(out)


def looks_like_path(ref: str) -> bool:
    return ref.endswith(".toml") or "/" in ref or "\\" in ref


def resolve(ref: str, defined: Iterable[Profile] = (), *, base: Path | None = None) -> Profile:
    """``NAME`` (built-in or from the config) or a path to a profile file -> the profile.

    A relative path is read from ``base`` (the config file's folder) when given.
    """
    if looks_like_path(ref):
        path = Path(ref)
        return load_file(path if path.is_absolute() or base is None else base / path)
    for profile in defined:
        if profile.name == ref:
            return profile
    if ref in BUILTIN_NAMES:
        return builtin(ref)
    known = [*BUILTIN_NAMES, *(p.name for p in defined)]
    raise ConfigError(
        f"profile {ref!r}: not a built-in, config or file profile ({', '.join(known)})"
    )


def in_force(defined: Iterable[Profile] = ()) -> tuple[Profile, ...]:
    """Every profile a probe can name: the built-ins, then the config's."""
    return (*(builtin(n) for n in BUILTIN_NAMES), *defined)

"""The settings file: defaults, the documented example, and errors that name the key."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from probes import config
from probes.config import ConfigError, parse_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "slawatch.example.toml"


def test_empty_file_gives_the_documented_defaults() -> None:
    settings = parse_settings("")
    assert settings.store.url == "sqlite:///data/slawatch.db"
    assert [p.name for p in settings.probes] == ["default"]
    assert settings.slos == config.default_slos()


def test_example_file_parses_to_exactly_the_defaults() -> None:
    settings = parse_settings(EXAMPLE.read_text())
    defaults = parse_settings("")
    for part in ("runner", "store", "backend", "dashboard", "alerts", "gate", "probes", "slos"):
        assert getattr(settings, part) == getattr(defaults, part), part


@pytest.mark.parametrize(
    ("section", "key"),
    [(section, key) for section, keys in config.SCHEMA.items() for key in keys]
    + [(None, key) for key in config.TOP_LEVEL],
)
def test_every_key_is_documented_in_the_example(section: str | None, key: str) -> None:
    text = EXAMPLE.read_text()
    header = {"probes": "[[probes]]", "slo": "[[slo]]"}.get(section or "", f"[{section}]")
    if section is not None:
        assert header in text
    assert re.search(rf"^#?\s*{key} = ", text, re.MULTILINE), f"{section}.{key} undocumented"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("runnr = 'x'", "runnr: unknown key"),
        ("[store]\nurl = 'mysql://x'", "store.url: must be an SQLAlchemy URL"),
        ("[store]\nretention = 'forever'", "store.retention: expected a duration"),
        (
            "[store]\nretention = '90d'\nrollup_retention = '30d'",
            "store.rollup_retention: must be at least store.retention (90d)",
        ),
        ("[backend]\nport = 70000", "backend.port: must be an integer from 0 to 65535, got 70000"),
        ("[dashboard]\npassword_hash = 'abc'", "dashboard.password_hash: must be pbkdf2_sha256$"),
        (
            "[[slo]]\nname = 'a'\nsli = 'isolation'\nobjective = 100\naggregate = 'quorum:0'",
            'slo[0].aggregate: must be "pooled", "any", "all" or "quorum:N" with N >= 1',
        ),
        ("[[probes]]\nusers = 0", "probes[0].users: must be an integer from 1 to 10000, got 0"),
        ("[[probes]]\nusers = '5'", "probes[0].users: must be an integer"),
        ("[[probes]]\ntarget = 'http://x/ws'", "probes[0].target: must be a ws:// or wss:// URL"),
        ("[[probes]]\nauth = 'cookie'", "probes[0].auth: must be one of header, subprotocol, both"),
        (
            "[[probes]]\nevery = '10s'\ntimeout = '10s'",
            "probes[0].timeout: must be shorter than every",
        ),
        (
            "[[probes]]\ntimeout = '5s'\nsession_timeout = '4s'",
            "probes[0].session_timeout: must be at least 2s shorter than timeout (5s)",
        ),
        ("[[probes]]\nexpected_events = ['a']", "probes[0].expected_events: must name at least"),
        ("[[probes]]\nname = 'a'\n[[probes]]\nname = 'a'", "probes[1].name: duplicate name 'a'"),
        ("[[probes]]\ncolour = 'red'", "probes[0].colour: unknown key"),
        ("[[slo]]\nname = 'x'\nsli = 'uptime'\nobjective = 99", "slo[0].sli: must be one of"),
        ("[[slo]]\nname = 'x'\nsli = 'isolation'", "slo[0].objective: required"),
        (
            "[[slo]]\nname = 'x'\nsli = 'isolation'\nobjective = 101",
            "slo[0].objective: must be a number from 0 to 100",
        ),
        (
            "[[slo]]\nname = 'x'\nsli = 'completion_latency'\nobjective = 99",
            "slo[0].threshold_ms: required for sli completion_latency",
        ),
        (
            "[[slo]]\nname = 'x'\nsli = 'memory_growth'\nobjective = 99",
            "slo[0].threshold_mb: required for sli memory_growth",
        ),
        (
            "[[slo]]\nname = 'x'\nsli = 'db_latency'\nobjective = 99\nthreshold_ms = 5",
            "slo[0].operation: required for sli db_latency",
        ),
        ("probes = 3", "probes: must be an array of tables"),
        ("[store", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(text)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        (45, 45.0),
    ],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert config.parse_duration(text) == seconds


def test_healthz_is_derived_from_the_target_unless_set() -> None:
    probe = parse_settings("[[probes]]\ntarget = 'wss://chat.example:9443/agent/ws'").probes[0]
    assert probe.healthz_url == "https://chat.example:9443/healthz"
    assert parse_settings("[[probes]]\nhealthz = 'off'").probes[0].healthz_url is None


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.toml"):
        config.load_settings(missing)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[probes]]\nusers = -1\n")
    with pytest.raises(ConfigError, match=r"bad.toml: probes\[0\].users"):
        config.load_settings(bad)


def test_digest_is_the_sha256_of_the_exact_text() -> None:
    text = "runner = 'a'\n"
    digest = parse_settings(text).digest
    assert digest == hashlib.sha256(text.encode("utf-8")).hexdigest()  # `sha256sum slawatch.toml`
    assert parse_settings(text).digest == digest  # the same file, the same digest
    # the same settings written differently are another file: the digest names the text
    assert parse_settings("runner = 'a' # eu\n").digest != digest


def test_without_a_file_the_digest_is_of_the_effective_settings(tmp_path: Path) -> None:
    defaults = parse_settings("")
    assert defaults.origin == "defaults (no file)"
    assert defaults.digest != hashlib.sha256(b"").hexdigest()
    assert defaults.digest_basis == "the effective default settings"
    path = tmp_path / "slawatch.toml"
    path.write_text("runner = 'eu-1'\n")
    loaded = config.load_settings(path)
    assert (loaded.origin, loaded.digest_basis) == (str(path), "the config text")
    assert loaded.digest == hashlib.sha256(b"runner = 'eu-1'\n").hexdigest()


def test_the_default_probe_follows_the_backends_address() -> None:
    moved = parse_settings("[backend]\nport = 18765\n")
    assert [p.target for p in moved.probes] == ["ws://127.0.0.1:18765/ws"]
    own = parse_settings('[backend]\nport = 18765\n[[probes]]\ntarget = "ws://h:1/ws"\n')
    assert [p.target for p in own.probes] == ["ws://h:1/ws"]  # a probe's own target stays


def test_a_probe_without_a_target_probes_the_configured_backend() -> None:
    settings = parse_settings("[backend]\nport = 18790\n[[probes]]\nusers = 2\n")
    assert [p.target for p in settings.probes] == ["ws://127.0.0.1:18790/ws"]

"""`slawatch --help` and each command's help: every flag described, only the flags it uses."""

from __future__ import annotations

import argparse

import pytest

from probes.cli.main import build_parser
from tests.cli.conftest import slawatch


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_flag_of_every_command_is_described(name: str) -> None:
    undescribed = [
        action.option_strings or [action.dest]
        for action in _commands()[name]._actions
        if not action.help
    ]
    assert undescribed == []


@pytest.mark.parametrize("name", ["token", "hash-password"])
def test_commands_without_a_store_offer_no_db_or_runner(name: str) -> None:
    flags = {s for a in _commands()[name]._actions for s in a.option_strings}
    assert not flags & {"--db", "--runner"}


@pytest.mark.parametrize("name", ["report", "export"])
def test_the_runner_filter_has_one_name(name: str) -> None:
    runner = [a for a in _commands()[name]._actions if "--runner" in a.option_strings]
    assert [a.dest for a in runner] == ["filter_runner"]
    assert all("--filter-runner" not in a.option_strings for a in _commands()[name]._actions)


def test_version_names_the_installed_version() -> None:
    done = slawatch("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("slawatch ") and "unknown" not in done.stdout


def test_backend_help_lists_the_backends_real_flags() -> None:
    done = slawatch("backend", "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--fault-seed", "--max-message-bytes", "--jwt-alg", "--log-level"):
        assert flag in done.stdout  # only the backend itself has these
    assert "not the results store" in done.stdout  # its --db is the backend's own file

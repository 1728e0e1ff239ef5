"""The `slawatch` command as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.backend_process import SECRET, Backend, start_backends, stop_backends

SLAWATCH = Path(sys.executable).parent / "slawatch"


def slawatch(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``slawatch`` console script and capture what it prints."""
    full_env = dict(os.environ, SLAWATCH_JWT_SECRET=SECRET)
    full_env.pop("SLAWATCH_JWT_SECRET_FILE", None)
    if env is not None:
        full_env.update(env)
    return subprocess.run(
        [str(SLAWATCH), *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# The default objectives, with latency thresholds no loaded test machine misses:
# these tests are about faults, never about timings.
RELAXED = "\n".join(
    f'[[slo]]\nname = "{name}"\nsli = "{sli}"\nobjective = {objective}\n{extra}'
    for name, sli, objective, extra in [
        ("session-success", "session_success", 99.9, ""),
        ("no-internal-errors", "no_internal_errors", 99.9, ""),
        ("isolation", "isolation", 100, ""),
        ("first-event-latency", "first_event_latency", 99, "threshold_ms = 60000"),
        ("memory-growth", "memory_growth", 100, "threshold_mb = 500"),
        ("db-thread-create", "db_latency", 99, 'threshold_ms = 60000\noperation = "thread_create"'),
        ("auth-rejection", "auth_rejection", 100, ""),
    ]
)


@pytest.fixture
def relaxed_config(tmp_path: Path) -> Path:
    path = tmp_path / "slawatch.toml"
    path.write_text(RELAXED)
    return path


@pytest.fixture
def run_slawatch() -> Callable[..., subprocess.CompletedProcess[str]]:
    return slawatch


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Backend]]:
    """A healthy backend and one that closes every run with 1011, for the whole module."""
    tmp = tmp_path_factory.mktemp("backends")
    clean, broken = start_backends(tmp, (), ("close_1011=1.0",))
    yield {"clean": clean, "close_1011": broken}
    stop_backends([clean, broken])

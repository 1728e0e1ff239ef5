"""``slawatch run`` stops cleanly on SIGTERM and on SIGINT, whatever it inherited.

A service manager stops with SIGTERM (it ended the runner at once, unsaved rounds and
all); a shell's background job comes with SIGINT ignored (the runner could not be
stopped with Ctrl-C's signal: two CI runs launched that way hung in the runner tests).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.results import ResultStore
from tests.support.backend_process import Backend, start_backends, stop_backends
from tests.support.runner_process import probe_config, start_runner, wait_for


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    [started] = start_backends(tmp_path, ())
    yield started
    stop_backends([started])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_runner_stops_cleanly_on_either_signal_even_with_sigint_ignored(
    backend: Backend, tmp_path: Path, sig: signal.Signals
) -> None:
    config = tmp_path / "slawatch.toml"
    config.write_text(probe_config(backend.url))
    url = f"sqlite:///{tmp_path / 'results.db'}"
    runner = start_runner(config, "solo", url, sigint_ignored=True)
    try:
        wait_for(lambda: len(runner.acknowledged) >= 2, what="two stored rounds")
        runner.process.send_signal(sig)
        code = runner.process.wait(timeout=30)
    finally:
        if runner.process.poll() is None:
            runner.process.kill()
            runner.process.wait()
    assert code == 0
    assert not runner.errors()
    with ResultStore(url) as store:
        beats = [b for b in store.runner_beats() if b.runner == "solo"]
        assert [b.state for b in beats] == ["stopped"]  # it said goodbye: not seen as down
        for run_id in runner.acknowledged:
            assert store.has_round(run_id)

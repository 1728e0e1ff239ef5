"""One real probe round against a target, with settings a loaded test machine meets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from probes.config import ProbeSettings
from probes.records import RoundResult
from probes.scheduling.scheduler import memory_source
from probes.target.round import run_round
from tests.support.backend_process import SECRET


def probe_settings(target: str, **changes: Any) -> ProbeSettings:
    """Probe settings for tests: generous timeouts; ``changes`` override any field."""
    values: dict[str, Any] = {
        "target": target,
        "users": 3,
        "every_s": 60.0,
        "timeout_s": 25.0,
        "session_timeout_s": 15.0,
    }
    return ProbeSettings(**(values | changes))


async def probe_round(target: str, runner: str = "test", **changes: Any) -> RoundResult:
    """Run one round of :func:`probe_settings` against ``target`` with the tests' secret."""
    probe = probe_settings(target, **changes)
    return await run_round(
        probe,
        run_id=uuid.uuid4().hex,
        runner=runner,
        secret=SECRET,
        memory=memory_source(probe),
        now=lambda: datetime.now(UTC),
    )

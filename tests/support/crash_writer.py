"""A results-store writer for the crash-consistency chaos test: ``python -m
tests.support.crash_writer URL PREFIX`` saves rounds ``PREFIX-0``, ``PREFIX-1``, ...
forever, printing ``saving ID`` before and ``saved ID`` after each ``save_round``
returns (the acknowledgement). The parent SIGKILLs it at a random moment.

``expected_round(run_id)`` rebuilds exactly what was saved, so the parent compares
what is stored with what was acknowledged, field by field.
"""

from __future__ import annotations

import sys
import zlib
from datetime import UTC, datetime, timedelta

from probes.records import Event, RoundResult, SessionResult
from probes.results import ResultStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TYPES = ("agent_started", "agent_thinking", "agent_completed")


def expected_round(run_id: str) -> RoundResult:
    """The round the writer saves under ``run_id`` (size and times from its digest)."""
    seed = zlib.crc32(run_id.encode())
    at = T0 + timedelta(seconds=seed % 86_400)
    users = 1 + seed % 8
    sessions = tuple(
        SessionResult(
            run_id,
            "chat",
            "ws://a/ws",
            "crash",
            f"u{i}",
            "header",
            at,
            connect_ms=1.0 + i,
            close_code=1000,
            events=tuple(Event(t, float(k), seq=k + 1) for k, t in enumerate(TYPES)),
            outcome="ok",
        )
        for i in range(users)
    )
    return RoundResult(run_id, "chat", "ws://a/ws", "crash", at, at, "passed", sessions=sessions)


def main(url: str, prefix: str) -> None:
    with ResultStore.open(url) as store:
        number = 0
        while True:
            run_id = f"{prefix}-{number}"
            print(f"saving {run_id}", flush=True)
            store.save_round(expected_round(run_id))
            print(f"saved {run_id}", flush=True)
            number += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

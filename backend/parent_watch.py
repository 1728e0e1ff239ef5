"""Stop when the process that started us is gone: no backend outlives `slawatch up`.

Why: `slawatch up` killed with SIGKILL cannot stop its children, and the
backend kept serving (holding its port) with nobody supervising it. A
backend started with `--parent-pid PID` therefore

- asks Linux to send it SIGTERM when its parent dies (`PR_SET_PDEATHSIG`
  through `prctl`; the same graceful stop as any SIGTERM, sessions closed
  with 1001), and
- watches the parent itself (its parent pid changes when it is reparented),
  for systems without `prctl` and for the race where the parent died before
  the `prctl` call.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
POLL_S = 0.5


def request_death_signal() -> bool:
    """Ask the kernel for SIGTERM when the parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name, use_errno=True)
    return libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0


def parent_gone(parent_pid: int) -> bool:
    """True once we are no longer `parent_pid`'s child."""
    return os.getppid() != parent_pid


async def watch_parent(parent_pid: int, stop: Callable[[], None]) -> None:
    """Call `stop` when `parent_pid` is no longer our parent (polled; runs until then)."""
    request_death_signal()
    while not parent_gone(parent_pid):
        await asyncio.sleep(POLL_S)
    log.warning("parent process %d is gone; stopping", parent_pid)
    stop()

"""Run a Python module as a child that stops when its parent is gone.

``slawatch up`` starts the dashboard (Streamlit) as::

    python -m probes.cli.guard PARENT_PID streamlit run dashboard/app.py ...

Why: ``up`` killed with SIGKILL cannot stop its children, and a dashboard left
behind keeps serving (holding its port) with nobody supervising it. The
backend has its own ``--parent-pid`` (``backend.parent_watch``); Streamlit has
no such option, so this wrapper, before running the module as ``__main__``
(``runpy``, in this same process):

- asks Linux to send SIGTERM when the parent dies (``PR_SET_PDEATHSIG``, which
  the module keeps; Streamlit stops its server on SIGTERM),
- exits at once if the parent already died before that call (the race), and
- watches the parent from a daemon thread (its parent pid changes when it is
  reparented) for systems without ``prctl``, sending itself SIGTERM, then
  exiting if that has not stopped it within ``GRACE_S``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import runpy
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_S = 0.5
GRACE_S = 10.0
USAGE = "usage: python -m probes.cli.guard PARENT_PID MODULE [ARGS ...]"


def request_death_signal() -> bool:
    """Ask the kernel for SIGTERM when the parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name, use_errno=True)
    return bool(libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0)


def watch_parent(parent_pid: int) -> None:
    """Poll until we are no longer ``parent_pid``'s child, then stop this process."""
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    print(f"slawatch: parent process {parent_pid} is gone; stopping", file=sys.stderr)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    os._exit(1)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print(USAGE, file=sys.stderr)
        return 2
    parent_pid, module = int(argv[0]), argv[1]
    request_death_signal()
    if os.getppid() != parent_pid:
        return 0  # the parent died before the death signal was asked for
    threading.Thread(target=watch_parent, args=(parent_pid,), daemon=True).start()
    sys.argv = [module, *argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The C heap's settings for the long-running dashboard process (glibc's ``mallopt``).

Why: in the soak (``bench/soak.py``, issue 10.9) the dashboard's RSS grew by
about 0.5 MB per page load, on a store that no longer changed too, while
its Python objects, Python's allocated blocks and malloc's bytes in use
stayed flat: what grew was free memory that glibc kept
(``mallinfo2().fordblks``, 7 to 45 MB in ten minutes of page loads). glibc
raises its mmap threshold each time a large block is freed, so the large
short-lived buffers of each script run (tables, figures, messages; each run
on a thread of its own) came from the heaps instead and left them
fragmented. A fixed threshold (which also turns that adjustment off) keeps
them in mappings of their own, given back when freed, and a trim threshold
gives back free memory at the top of the heap: the free bytes then stayed
at 9-10 MB and the RSS flat (``docs/benchmarks.md``). The same as starting
the process with ``MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=131072``,
but whoever starts it. Elsewhere than glibc nothing changes. No Streamlit
import here.
"""

from __future__ import annotations

import ctypes
import threading

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 1024
TRIM_THRESHOLD = 128 * 1024

_done = False
_lock = threading.Lock()


def tune_heap() -> bool:
    """Set the thresholds once per process; False where the C library has no ``mallopt``."""
    global _done
    with _lock:
        if _done:
            return True
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):  # not glibc
            return False
        ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
        _done = True
        return ok

"""How a round's timeout is shared out: the sessions, then the close and the last memory sample.

One place for these figures, imported by the round (``probes.target``) that
spends them and by the settings (``probes.config``) that check a probe's
``session_timeout`` leaves room for them, so neither restates the other.
"""

from __future__ import annotations

# The close handshake may use what is left of the session's timeout, and at least
# this much: a session returns within its timeout plus CLOSE_GRACE_S.
CLOSE_GRACE_S = 1.0
MEMORY_RESERVE_S = 1.0  # kept back from the sessions for the "after" memory sample
# What a round needs beyond its sessions.
ROUND_OVERHEAD_S = CLOSE_GRACE_S + MEMORY_RESERVE_S

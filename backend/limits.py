"""Per-user request and reply-volume budgets: what one abusive client may cost the server.

Why: ten authenticated clients that never read and kept sending `get_thread`
on a large thread pushed everyone else's p95 from ~90 ms to over a second.
The in-flight limit alone does not bound that: a client that is refused
or closed just goes on (or reconnects). Two token buckets per user bound
the work one client can make the server do:

- requests: `rate` per second, bursts up to `burst`; over it a request is
  refused `rate_limited` before any work is done;
- reply bytes (the cost of a request is mostly proportional to its answer:
  rows read, JSON encoded, bytes written): `bytes_rate` per second, bursts
  up to `bytes_burst`; each reply is charged when sent (it may go into
  debt), and while the bucket is in debt new requests are refused.

Because a reply is charged only when it is sent, requests that run at the
same time would all pass the check before the first is charged (eight
pipelined `get_thread`s, the in-flight limit, cost eight large replies).
So the heavy reads of one user (`get_thread`: its cost is the thread's
size) run one at a time (`UserBudget.heavy`, across the user's
connections), and each checks the reply budget only once the one before
has been charged: one user never has more than one large reply in the
making, and never goes further into debt than one reply.

A client a little over its budget is slowed down rather than refused: a
session does not read its next frame until the user's budget admits it,
if that is at most `PACE_MAX_S` away (the frames wait in the socket, and
TCP makes the client wait), and a refused handshake is answered only after
that long. A refusal costs the server a parse and a reply, and a close a
reconnect with a handshake: with ten abusers sending every 10 ms, that
churn (hundreds of 429s per second) cost the backend as much CPU as the
replies the budgets allowed. Only further over (a budget that does not
refill in time) are requests refused. Refusals count towards
`--bad-request-limit`, so a client that keeps pushing is closed with 1008.

The buckets belong to the user (the token's `sub`), not to the connection,
so reconnecting does not refill them; a bucket that is full again is
forgotten, so the table stays small.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
PACE_MAX_S = 1.0  # wait at most this long for a budget instead of refusing


@dataclass(frozen=True)
class Budget:
    """The limits for one user: requests/s (+burst) and reply bytes/s (+burst)."""

    rate: float = 20.0
    burst: float = 40.0
    bytes_rate: float = 256 << 10
    bytes_burst: float = 1 << 20


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def full_at(self) -> float:
        return self.stamp + max(self.capacity - self.tokens, 0.0) / self.rate


@dataclass
class UserBudget:
    """One user's two buckets."""

    requests: _Bucket
    replies: _Bucket
    clock: Clock
    heavy: asyncio.Lock = field(default_factory=asyncio.Lock)  # one large reply at a time

    def in_debt(self) -> str | None:
        """The refusal's message while the reply bucket is in debt, else None."""
        self.replies.refill(self.clock())
        if self.replies.tokens < 0:
            kib = self.replies.rate / 1024
            return f"too much reply data (limit {kib:g} KiB per second)"
        return None

    def wait_s(self) -> float:
        """Seconds until a request would be admitted: 0 now, inf if the buckets never refill."""
        now = self.clock()
        self.requests.refill(now)
        self.replies.refill(now)
        requests = max(1.0 - self.requests.tokens, 0.0) / self.requests.rate
        replies = max(-self.replies.tokens, 0.0) / self.replies.rate
        return max(requests, replies)

    def pace_s(self) -> float:
        """How long to hold the next request back (0 when it is admitted now, or when the
        wait would be longer than `PACE_MAX_S`: then it is refused instead)."""
        wait = self.wait_s()
        return wait if wait <= PACE_MAX_S else 0.0

    def admit(self) -> str | None:
        """Take one request token; the refusal's message when the user is over a limit."""
        now = self.clock()
        self.requests.refill(now)
        if (debt := self.in_debt()) is not None:
            return debt
        if self.requests.tokens < 1:
            return f"too many requests (limit {self.requests.rate:g} per second)"
        self.requests.tokens -= 1
        return None

    def charge(self, size: int) -> None:
        """Debit `size` bytes of replies (the bucket may go into debt)."""
        self.replies.refill(self.clock())
        self.replies.tokens -= size


@dataclass
class Budgets:
    """The budgets of every user seen recently; a bucket back to full is dropped."""

    budget: Budget = field(default_factory=Budget)
    clock: Clock = time.monotonic
    _users: dict[str, UserBudget] = field(default_factory=dict)
    _next_sweep: float = 0.0

    def __len__(self) -> int:
        return len(self._users)

    def of(self, user_id: str) -> UserBudget:
        """The user's budget (a fresh, full one for a user not seen lately)."""
        now = self.clock()
        if now >= self._next_sweep:
            self._sweep(now)
        found = self._users.get(user_id)
        if found is None:
            b = self.budget
            found = UserBudget(
                _Bucket(b.rate, b.burst, b.burst, now),
                _Bucket(b.bytes_rate, b.bytes_burst, b.bytes_burst, now),
                self.clock,
            )
            self._users[user_id] = found
        return found

    def _sweep(self, now: float) -> None:
        """Forget budgets that have refilled (they equal a fresh one) and are not reading."""
        for user_id, user in list(self._users.items()):
            idle = not user.heavy.locked()
            if idle and user.requests.full_at() <= now and user.replies.full_at() <= now:
                del self._users[user_id]
        self._next_sweep = now + 10.0

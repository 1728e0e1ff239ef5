"""The agent behind a chat: an interface a real LLM agent could implement, and a simulation.

An agent turns one request into a stream of steps (thinking, tool calls,
one final answer). It knows nothing about sockets, sequence numbers or
faults: the session adds those when it turns steps into protocol events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from backend.store import Timed
from backend.tools import CalculationError, ToolCall, calculate, plan_tools, word_count

SearchMessages = Callable[[str, Sequence[str]], Awaitable[Timed[tuple[str, ...]]]]


@dataclass(frozen=True)
class AgentRequest:
    """One chat message to answer, for one user in one thread."""

    user_id: str
    thread_id: str
    text: str


@dataclass(frozen=True)
class Thinking:
    """The agent reasons (sent as `agent_thinking`)."""

    text: str


@dataclass(frozen=True)
class ToolStarted:
    """The agent calls a tool (sent as `tool_executing`)."""

    tool: str
    argument: str


@dataclass(frozen=True)
class ToolFinished:
    """A tool returned (sent as `tool_completed`)."""

    tool: str
    result: str


@dataclass(frozen=True)
class Answer:
    """The final answer, with the DB time the agent's tools spent (ms per operation)."""

    text: str
    db_ms: Mapping[str, float] = field(default_factory=dict)


AgentStep = Thinking | ToolStarted | ToolFinished | Answer


class Agent(Protocol):
    """Anything that answers a request as a stream of steps ending with one `Answer`."""

    def run(self, request: AgentRequest) -> AsyncIterator[AgentStep]:
        """Yield thinking and tool steps, then exactly one `Answer`, last."""
        ...


class SimulatedAgent:
    """A deterministic agent without an LLM: real tools, chosen by simple rules."""

    def __init__(self, search: SearchMessages, step_delay_ms: float = 20.0) -> None:
        self._search = search
        self._delay_s = max(step_delay_ms, 0.0) / 1000.0

    async def run(self, request: AgentRequest) -> AsyncIterator[AgentStep]:
        """Think, run each planned tool, think again, answer."""
        plan = plan_tools(request.text)
        yield Thinking(
            f"Reading a {len(request.text.split())}-word message; "
            f"plan: {', '.join(call.tool for call in plan)}."
        )
        await self._pause()
        outcomes: list[tuple[str, str]] = []
        db_ms: dict[str, float] = {}
        for call in plan:
            yield ToolStarted(call.tool, call.argument)
            result = await self._execute(call, request.user_id, db_ms)
            await self._pause()
            outcomes.append((call.tool, result))
            yield ToolFinished(call.tool, result)
            await self._pause()
        yield Thinking(f"Composing the answer from {len(outcomes)} tool result(s).")
        await self._pause()
        yield Answer(compose_answer(outcomes), db_ms)

    async def _pause(self) -> None:
        if self._delay_s > 0:
            await asyncio.sleep(self._delay_s)

    async def _execute(self, call: ToolCall, user_id: str, db_ms: dict[str, float]) -> str:
        if call.tool == "calculator":
            try:
                return calculate(call.argument)
            except CalculationError as exc:
                return f"error: {exc}"
        if call.tool == "search_messages":
            found = await self._search(user_id, call.argument.split())
            db_ms["data_retrieval"] = db_ms.get("data_retrieval", 0.0) + found.db_ms
            return describe_matches(call.argument, found.value)
        return word_count(call.argument)


def describe_matches(query: str, matches: Sequence[str]) -> str:
    """A short text for what `search_messages` found."""
    if not matches:
        return f"no messages mention {query!r}"
    shown = "; ".join(text[:80] for text in matches)
    return f"{len(matches)} message(s) mention {query!r}: {shown}"


def compose_answer(outcomes: Sequence[tuple[str, str]]) -> str:
    """The final answer: one sentence per tool result."""
    parts = []
    for tool, result in outcomes:
        if tool == "calculator":
            parts.append(f"The result is {result}.")
        elif tool == "search_messages":
            parts.append(f"Searching your messages: {result}.")
        else:
            parts.append(f"Your message has {result}.")
    return " ".join(parts)

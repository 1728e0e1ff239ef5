"""The simulated agent's tools: safe arithmetic, tool choice, event order."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from backend.agent import AgentRequest, Answer, SimulatedAgent, Thinking, ToolFinished, ToolStarted
from backend.store import Timed
from backend.tools import CalculationError, ToolCall, calculate, plan_tools


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("2 + 3", "5"),
        ("(12.5*4) - 3^2", "41"),
        ("7 / 2", "3.5"),
        ("7 // 2", "3"),
        ("-3 - -2", "-1"),
        ("2 ** 10", "1024"),
        ("10 % 4", "2"),
    ],
)
def test_calculator_evaluates_arithmetic(expression: str, result: str) -> None:
    assert calculate(expression) == result


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "division by zero"),
        ("2 ** 100", "exponent larger than 64"),
        ("__import__('os')", "only numbers and + - * / // % ** are allowed"),
        ("(1).__class__", "only numbers and + - * / // % ** are allowed"),
        ("True + 1", "only numbers and + - * / // % ** are allowed"),
        ("9 ** 64 * 9 ** 64", "result out of range"),
        ("2 +", "not an arithmetic expression: '2 +'"),
    ],
)
def test_calculator_refuses_anything_but_bounded_arithmetic(expression: str, message: str) -> None:
    with pytest.raises(CalculationError, match=f"^{re.escape(message)}$"):
        calculate(expression)


@pytest.mark.parametrize(
    ("text", "plan"),
    [
        ("what is 2 + 3?", (ToolCall("calculator", "2 + 3"),)),
        ("search for budget report", (ToolCall("search_messages", "budget report"),)),
        (
            "find apples and compute 4*5",
            (ToolCall("calculator", "4*5"), ToolCall("search_messages", "apples and compute")),
        ),
        ("hello there", (ToolCall("word_count", "hello there"),)),
        ("version 1.2.3", (ToolCall("word_count", "version 1.2.3"),)),
    ],
)
def test_tools_are_chosen_from_the_message_text(text: str, plan: tuple[ToolCall, ...]) -> None:
    assert plan_tools(text) == plan


async def _search(user_id: str, terms: Sequence[str]) -> Timed[tuple[str, ...]]:
    return Timed((f"{user_id} said {' '.join(terms)}",), 1.5)


@pytest.mark.asyncio
async def test_simulated_agent_thinks_runs_each_tool_then_answers() -> None:
    agent = SimulatedAgent(_search, step_delay_ms=0)
    steps = [s async for s in agent.run(AgentRequest("u", "t", "search apples, 6*7"))]
    kinds = [type(s) for s in steps]
    assert kinds == [
        Thinking,
        ToolStarted,
        ToolFinished,
        ToolStarted,
        ToolFinished,
        Thinking,
        Answer,
    ]
    assert steps[2] == ToolFinished("calculator", "42")
    assert steps[4] == ToolFinished(
        "search_messages", "1 message(s) mention 'apples': u said apples"
    )
    answer = steps[-1]
    assert isinstance(answer, Answer)
    assert answer.db_ms == {"data_retrieval": 1.5}
    assert answer.text.startswith("The result is 42.")

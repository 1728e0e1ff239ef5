"""The simulated agent's tools and the pure rules that pick them from a message.

`calculator` evaluates arithmetic through a whitelist over Python's `ast`
(never `eval`); `search_messages` looks for words in the user's own stored
messages (the search itself is the store's job); `word_count` is the default
so that every run uses at least one tool.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 64
MAX_MAGNITUDE = 10**30
MAX_SEARCH_TERMS = 5

_CANDIDATE = re.compile(r"-?[\d.(][\d.\s()+\-*/%^]*[\d.)]|\d")
_HAS_OPERATOR = re.compile(r"[\d.)]\s*(?:\*\*|[-+*/%^])\s*[-+(]*[\d.]")
_SEARCH = re.compile(r"\b(?:search|find|recall)\b(?:\s+(?:for|about))?\s+(.+)", re.I)
_WORD = re.compile(r"[\w'-]{3,}")

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


class CalculationError(ValueError):
    """An expression the calculator will not or cannot evaluate."""


@dataclass(frozen=True)
class ToolCall:
    """One tool the agent decided to use, with its argument."""

    tool: str
    argument: str


def plan_tools(text: str) -> tuple[ToolCall, ...]:
    """The tools a message asks for, in order; `word_count` when none matches."""
    calls: list[ToolCall] = []
    expression = find_expression(text)
    if expression is not None:
        calls.append(ToolCall("calculator", expression))
    terms = search_terms(text)
    if terms:
        calls.append(ToolCall("search_messages", " ".join(terms)))
    return tuple(calls) or (ToolCall("word_count", text),)


def find_expression(text: str) -> str | None:
    """The longest arithmetic expression in `text`, if there is one."""
    candidates = [m.group(0).strip() for m in _CANDIDATE.finditer(text)]
    expressions = [c for c in candidates if _HAS_OPERATOR.search(c)]
    if not expressions:
        return None
    return max(expressions, key=len)[:MAX_EXPRESSION_CHARS]


def search_terms(text: str) -> tuple[str, ...]:
    """Words to look for when the message says search/find/recall."""
    match = _SEARCH.search(text)
    if match is None:
        return ()
    words = [w.lower() for w in _WORD.findall(match.group(1))]
    return tuple(dict.fromkeys(words))[:MAX_SEARCH_TERMS]


def calculate(expression: str) -> str:
    """Evaluate arithmetic safely; `^` means power. Raises `CalculationError`."""
    source = expression.replace("^", "**")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise CalculationError(f"not an arithmetic expression: {expression!r}") from None
    value = _evaluate(tree.body)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return str(value)


def _evaluate(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise CalculationError("only numbers and + - * / // % ** are allowed")
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalculationError(f"exponent larger than {MAX_EXPONENT}")
        try:
            return _bounded(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise CalculationError("division by zero") from None
        except (OverflowError, TypeError):
            raise CalculationError("result out of range") from None
    raise CalculationError("only numbers and + - * / // % ** are allowed")


def _bounded(value: float) -> float:
    if isinstance(value, complex) or abs(value) > MAX_MAGNITUDE:
        raise CalculationError("result out of range")
    return value


def word_count(text: str) -> str:
    """How many words and characters the message has."""
    return f"{len(text.split())} words, {len(text)} characters"

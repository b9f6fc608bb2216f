"""Checks on values decoded from outside JSON that the database or the encoder would choke on.

Pure functions, shared by the HTTP API and the room protocol. Each walk is iterative (no recursion,
however deep the value) and answers the first problem as ``(path, reason)``, or ``None``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1
"""The range of a database BIGINT: a larger integer cannot be stored or compared with a column."""

FREE_MAX_DEPTH = 16
FREE_MAX_ITEMS = 2000
FREE_MAX_BYTES = 64 * 1024
"""Limits of one free-form JSON field (``details``, ``data``...): nesting, keys + items, bytes."""

SHOW_MAX_DEPTH = 64
"""A stored free field nested deeper than this is not shown (the encoder would fail on it)."""

YEAR_MIN, YEAR_MAX = 1850, 2200

Problem = tuple[str, str]


def scalar_problem(value: object) -> str | None:
    """What is wrong with one scalar value, or ``None``."""
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, int) and not isinstance(value, bool):
        in_range = INT_MIN <= value <= INT_MAX
        return None if in_range else "integer out of range (must fit in 64 bits)"
    if isinstance(value, float):
        return None if math.isfinite(value) else "number must be finite"
    if isinstance(value, dt.date) and not YEAR_MIN <= value.year <= YEAR_MAX:
        return f"date out of range (years {YEAR_MIN} to {YEAR_MAX})"
    return None


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "text must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text must not contain lone surrogates (invalid Unicode)"
    return None


def walk_problem(
    value: Any, path: str, *, max_depth: int, max_items: int | None = None
) -> Problem | None:
    """The first problem in a JSON-like value: too deep, too many items, or a bad scalar."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    items = 0
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict | list | tuple):
            if depth >= max_depth:
                return where, f"nested deeper than {max_depth} levels"
            items += len(node)
            if max_items is not None and items > max_items:
                return path, f"more than {max_items} keys and items"
            if isinstance(node, dict):
                for key, child in node.items():
                    key_problem = scalar_problem(key)
                    if key_problem:
                        return f"{where}.{str(key)[:40]!r}", key_problem
                    stack.append((child, f"{where}.{key}", depth + 1))
            else:
                stack.extend((child, f"{where}.{i}", depth + 1) for i, child in enumerate(node))
        else:
            problem = scalar_problem(node)
            if problem:
                return where, problem
    return None


def free_json_problem(value: Any, path: str) -> Problem | None:
    """What is wrong with one free-form JSON field sent by a client, or ``None``."""
    problem = walk_problem(value, path, max_depth=FREE_MAX_DEPTH, max_items=FREE_MAX_ITEMS)
    if problem:
        return problem
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > FREE_MAX_BYTES:
        return path, f"larger than {FREE_MAX_BYTES // 1024} KiB"
    return None


def showable(value: Any) -> bool:
    """Whether a stored free field can be encoded into an answer."""
    return walk_problem(value, "", max_depth=SHOW_MAX_DEPTH) is None

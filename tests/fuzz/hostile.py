"""Shared pieces of the fuzz suite: hostile JSON values, bounded hypothesis settings, and running
hypothesis (which is synchronous) against servers that live on the test's event loop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLE_TIMEOUT_S = 20.0
"""Longest one example may take: a hang fails the test instead of stalling CI."""


def bounded(max_examples: int) -> settings:
    """Reproducible, bounded hypothesis settings: the same examples on every run."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def deep(levels: int, leaf: Any = 1) -> Any:
    value: Any = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"a": value}
    return value


ODD_TEXT = [
    "",
    "a\x00b",
    "\x00",
    "\ud800",  # lone surrogates: travel as \ud800 escapes, which the server decodes
    "x\udfffy",
    "\ufeff",
    "\u202eevil",
    "𝕏" * 40,
    "﷽",
    "x" * 70_000,
    "1e309",
    "NaN",
    "../../etc/passwd",
    "'; DROP TABLE patient; --",
    "<script>alert(1)</script>",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01",
    "2024-02-30",
    "99999999999999999999",
]
HUGE_INTS = [1 << 63, (1 << 63) - 1, -(1 << 63) - 1, 1 << 64, 1 << 200, -1, 0]

texts = st.one_of(
    st.text(max_size=20),
    st.sampled_from(ODD_TEXT),
    st.builds(
        lambda a, s, b: a + s + b,
        st.text(max_size=4),
        st.sampled_from(ODD_TEXT),
        st.text(max_size=4),
    ),
)
numbers = st.one_of(
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.integers(min_value=-(1 << 80), max_value=1 << 80),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values: st.SearchStrategy[Any] = st.one_of(
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
        max_leaves=10,
    ),
    st.sampled_from([deep(20), deep(300), {f"k{i}": i for i in range(2500)}, [0] * 5000]),
)


def mutate(valid: dict[str, Any], rnd: random.Random, hostile: Any) -> dict[str, Any]:
    """One mutation of a valid body: a field dropped, replaced by ``hostile``, or one added."""
    body = dict(valid)
    keys = sorted(body)
    how = rnd.choice(["drop", "replace", "replace", "add", "nest"])
    if how == "drop" and keys:
        del body[rnd.choice(keys)]
    elif how in ("replace", "nest") and keys:
        key = rnd.choice(keys)
        body[key] = hostile if how == "replace" else {"$in": [body[key], hostile]}
    else:
        body[rnd.choice(["extra", "id", "status", "__proto__", "\x00"])] = hostile
    return body


async def on_loop(
    run: Callable[[Callable[[Coroutine[Any, Any, None]], None]], None],
) -> None:
    """Run the synchronous hypothesis test ``run`` in a thread; each example it checks is a
    coroutine handed to ``submit`` and run on this event loop (where the servers live)."""
    loop = asyncio.get_running_loop()

    def submit(check: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(_bounded(check), loop).result()

    await asyncio.to_thread(run, submit)


async def _bounded(check: Awaitable[None]) -> None:
    async with asyncio.timeout(EXAMPLE_TIMEOUT_S):
        await check

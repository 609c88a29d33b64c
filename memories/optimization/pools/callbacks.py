"""Calling user callbacks that may be sync or async."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import TypeVar, cast

Result = TypeVar("Result")


async def resolve(value: Result | Awaitable[Result]) -> Result:
    """Await ``value`` when it is awaitable (an async callback's result), else return it."""
    if inspect.isawaitable(value):
        return cast(Result, await value)
    return value

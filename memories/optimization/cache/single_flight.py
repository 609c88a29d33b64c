"""One computation per key, however many callers ask for it at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from memories.event_loops import RunningLoop

_Result = TypeVar("_Result")


class SingleFlight(Generic[_Result]):
    """Runs ``work`` once per key for concurrent callers; they all get its result or its exception.

    Results and exceptions are not remembered after the flight lands. If the caller running the
    work is cancelled, the others retry (one of them runs the work again) rather than being
    cancelled themselves.
    """

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[_Result]] = {}
        self._loop = RunningLoop()  # a flight per L3 read that misses locally

    async def run(self, key: str, work: Callable[[], Awaitable[_Result]]) -> tuple[_Result, bool]:
        """Return ``(result, ran_here)``: ``ran_here`` is False for callers that joined a flight."""
        while (flight := self._flights.get(key)) is not None:
            try:
                return await asyncio.shield(flight), False
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if flight.cancelled() and (task is None or not task.cancelling()):
                    continue
                raise
        flight = self._loop().create_future()
        self._flights[key] = flight
        try:
            result = await work()
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as error:
            flight.set_exception(error)
            flight.exception()  # marks it retrieved: callers that joined re-raise it, none is lost
            raise
        else:
            flight.set_result(result)
            return result, True
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]

    def forget(self, key: str) -> None:
        """Let the next caller for ``key`` start a new flight: the running one may bring back an outdated result
        (its key was just written). Callers that already joined it still get its result."""
        self._flights.pop(key, None)

    def forget_many(self, keys: Iterable[str]) -> None:
        """:meth:`forget` each of ``keys``."""
        flights = self._flights
        if flights:
            for key in keys:
                flights.pop(key, None)

    def forget_all(self) -> None:
        """:meth:`forget` every key."""
        self._flights.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._flights

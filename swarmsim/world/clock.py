"""What every part of the world gets of the run's clock: the SimPy environment, the run's named
random streams, the count of events handled, and :data:`After`, the way to schedule a callback.
Parts such as :mod:`~swarmsim.world.failures` and :mod:`~swarmsim.world.service` take these as
narrow Protocols that ``World`` satisfies, instead of importing it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import simpy
from simpy.events import Timeout

from swarmsim.rng import Streams

#: Schedules ``callback(event)`` after ``delay`` s whose ``event.value`` is ``value`` (the world's clock).
After = Callable[[float, Callable[[Timeout], None], object], None]


class Fired(Protocol):
    """What a callback reads of the SimPy event that fired it: ``value``, the object it was
    scheduled with (SimPy's public ``Event.value``; ``Any`` here, as each callback knows what it
    scheduled). A ``Timeout`` is one."""

    @property
    def value(self) -> Any: ...


class Clock(Protocol):
    """The run's clock and randomness, as a part of the world reads them."""

    env: simpy.Environment
    streams: Streams
    events: int  # SimPy events handled, counted by each handler


__all__ = ["After", "Clock", "Fired"]

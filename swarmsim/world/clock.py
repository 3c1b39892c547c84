"""What every part of the world gets of the run's clock: the SimPy environment, the run's named
random streams, the count of events handled, and :data:`After`, the way to schedule a callback.
Parts such as :mod:`~swarmsim.world.failures` and :mod:`~swarmsim.world.service` take these as
narrow Protocols that ``World`` satisfies, instead of importing it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import simpy
from simpy.events import Timeout

from swarmsim.rng import Streams

#: Schedules ``callback(event)`` after ``delay`` s with ``event._value = value`` (the world's clock).
After = Callable[[float, Callable[[Timeout], None], object], None]


class Clock(Protocol):
    """The run's clock and randomness, as a part of the world reads them."""

    env: simpy.Environment
    streams: Streams
    events: int  # SimPy events handled, counted by each handler


__all__ = ["After", "Clock"]

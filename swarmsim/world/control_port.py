"""What the control loop needs of the world: a narrow, structural interface.

:class:`~swarmsim.world.controller.Controller` is written against :class:`ControlledWorld`, not
against ``World``: it lists only the attributes and methods the controller reads or calls (to
build views, apply actions and hear when they take effect). ``World`` has all of them under
these names, so it satisfies the protocol without naming it; a test double or another engine
can too. Nothing here imports the world.

Units: times in s since the scenario start, rates in USD per hour, money in USD.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from swarmsim.metrics.recorder import Recorder
    from swarmsim.rng import Streams
    from swarmsim.scenario import Scenario
    from swarmsim.world.node import Node, NodeType, Pool, Region


@runtime_checkable
class ServicesPort(Protocol):
    """The inference services, as far as actions on replicas need them."""

    @property
    def services(self) -> Sequence[Any]: ...  # each with name, gpus, types, max_batch, spec, per-region sites
    on_replica_ready: Callable[[int], None] | None  # called with the action row of a ready replica
    iteration: Any  # the engines of batching: iteration (world/iteration.py), for occupancy(site)

    def add_replicas(self, service: Any, region: Region, count: int, action: int = -1) -> None: ...

    def remove_replicas(self, service: Any, region: Region, count: int) -> int: ...

    def reach_all(self) -> None: ...


class FailuresPort(Protocol):
    """The failure layer, as far as closing a region in an outage needs it."""

    def close_after_outage(self, region: Region) -> None: ...


@runtime_checkable
class ControlledWorld(Protocol):
    """Everything :class:`~swarmsim.world.controller.Controller` touches (``isinstance`` checks
    that an object has every name; tests/test_lazy_views.py checks it of ``World``)."""

    env: simpy.Environment
    scenario: Scenario
    streams: Streams  # one random stream per policy: ``streams.get("policy/<i>")``
    regions: list[Region]
    region_names: list[str]
    node_types: list[NodeType]
    rtt_s: np.ndarray  # region x region round-trip times, s
    recorder: Recorder  # the controller appends one row per action to ``recorder.actions``
    @property  # read-only here: World's own classes satisfy the ports
    def services(self) -> ServicesPort: ...
    @property
    def failures(self) -> FailuresPort | None: ...
    blocked: list[Any]  # queued jobs that only an inactive region could run (each with ``origin``)
    events: int  # SimPy events counted; the controller adds one per policy tick
    cost_rate: float  # USD/h billed now
    committed_rate: float  # USD/h that resizes under way will add
    on_node_ready: Callable[[Node], None] | None
    on_node_gone: Callable[[Node], None] | None

    def spent_usd(self) -> float: ...

    def add_node(self, region: Region, ntype: NodeType, delay_s: float | None = None,
                 action: int = -1) -> Any: ...

    def drain(self, node: Node, resize_to: tuple[Pool, int] | None = None, preempt: bool = False) -> None: ...

    def evacuate(self, region: Region) -> None: ...

    def reroute_blocked(self) -> None: ...

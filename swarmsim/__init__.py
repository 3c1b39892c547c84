"""swarmsim: a discrete-event capacity simulator of a multi-region GPU cloud.

Public API::

    import swarmsim
    sc = swarmsim.load_scenario("scenarios/two-regions.yaml", overrides={"seed": 3})
    res = swarmsim.simulate(sc)
    res.summary, res.jobs, res.timeseries, res.actions
    res.save("results/two-regions/run-1")
"""

from typing import TYPE_CHECKING, Any

from swarmsim.errors import ScenarioError
from swarmsim.scenario import Scenario, load_scenario
from swarmsim.version import __version__

if TYPE_CHECKING:
    from swarmsim.result import Result
    from swarmsim.simulation import simulate

__all__ = ["Result", "Scenario", "ScenarioError", "__version__", "load_scenario", "simulate"]


def __getattr__(name: str) -> Any:
    # simulate and Result pull in pandas and SimPy; import them on first use so that
    # `swarmsim validate` and bad-input exits stay fast.
    if name == "simulate":
        from swarmsim.simulation import simulate

        return simulate
    if name == "Result":
        from swarmsim.result import Result

        return Result
    raise AttributeError(f"module 'swarmsim' has no attribute {name!r}")

"""swarmsim: a discrete-event capacity simulator of a multi-region GPU cloud.

Public API::

    import swarmsim
    sc = swarmsim.load_scenario("scenarios/two-regions.yaml", overrides={"seed": 3})
    res = swarmsim.simulate(sc)
    res.summary, res.jobs, res.timeseries, res.actions
    res.save("results/two-regions/run-1")
"""

from swarmsim.errors import ScenarioError
from swarmsim.result import Result
from swarmsim.scenario import Scenario, load_scenario
from swarmsim.simulation import simulate
from swarmsim.version import __version__

__all__ = ["Result", "Scenario", "ScenarioError", "__version__", "load_scenario", "simulate"]

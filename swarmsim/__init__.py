"""swarmsim: a discrete-event capacity simulator of a multi-region GPU cloud.

Public API::

    import swarmsim
    sc = swarmsim.load_scenario("scenarios/two-regions.yaml", overrides={"seed": 3})
    res = swarmsim.simulate(sc)
    res.summary, res.jobs, res.timeseries, res.actions
    res.save("results/two-regions/run-1")
    table = swarmsim.sweep(sc, grid={"scheduler.placement": ["best-fit", "spread"]}, seeds=range(10))
    plan = swarmsim.plan(sc, slo={"job_wait_p95_s": 1800}, vary="fleet", seeds=10)
"""

from typing import TYPE_CHECKING, Any

from swarmsim.errors import ScenarioError
from swarmsim.scenario import Scenario, load_scenario
from swarmsim.version import __version__

if TYPE_CHECKING:
    from swarmsim.experiments.sweep import sweep
    from swarmsim.planning.search import plan
    from swarmsim.result import Result
    from swarmsim.results_io import open_results
    from swarmsim.simulation import simulate

__all__ = ["Result", "Scenario", "ScenarioError", "__version__", "load_scenario", "open_results", "plan", "simulate",
           "sweep"]


def __getattr__(name: str) -> Any:
    # simulate, sweep, plan and Result pull in pandas and SimPy; import them on first use so that
    # `swarmsim validate` and bad-input exits stay fast.
    if name == "simulate":
        from swarmsim.simulation import simulate

        return simulate
    if name == "sweep":
        from swarmsim.experiments.sweep import sweep

        return sweep
    if name == "plan":
        from swarmsim.planning.search import plan

        return plan
    if name == "open_results":
        from swarmsim.results_io import open_results

        return open_results
    if name == "Result":
        from swarmsim.result import Result

        return Result
    raise AttributeError(f"module 'swarmsim' has no attribute {name!r}")

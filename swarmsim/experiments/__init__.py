"""Experiments: sweeps and replications with confidence intervals, on a laptop or a Ray cluster.

The public entry point is :func:`swarmsim.sweep` (re-exported from here)::

    table = swarmsim.sweep("scenarios/horizontal-step-demand.yaml",
                           grid={"policies.0.target_utilization": [0.5, 0.7]},
                           seeds=range(10), backend="local", out="results/sweeps/step")

A sweep is built as a list of run specs before anything runs (every grid point validated
first); each run is ``(point, seed)``: the scenario with the point's overrides and that seed.
Every grid point runs on the same seeds (common random numbers). The table has one row per run,
sorted by (point, seed) whatever order runs finished in, with one column per swept parameter,
``point``, ``seed``, ``status`` (ok | failed), ``error``, and every summary figure.

Modules: ``sweep.py`` (plan, run, resume, the table), ``backends.py`` (local process pool, Ray),
``stats.py`` (mean, std and 95 % intervals per point that respect each figure's support, named by
``ci_method``; paired comparisons).
"""

from swarmsim.experiments.stats import compare, summarize
from swarmsim.experiments.sweep import RunSpec, plan_runs, run_one, sweep

__all__ = ["RunSpec", "compare", "plan_runs", "run_one", "summarize", "sweep"]

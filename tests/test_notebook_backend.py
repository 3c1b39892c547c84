"""Library code never switches the matplotlib backend: a notebook that saves a run or a plan
(``res.save(...)``, ``swarmsim.plan(out=...)``) keeps its inline plots afterwards.

Each check runs in a fresh interpreter with ``MPLBACKEND`` set to the inline backend a Jupyter
kernel uses, so the backend is the notebook's from the start, as it is in a kernel; before the
fix ``swarmsim.plots`` switched it to ``agg`` at import and ``PlanResult.save`` forced
``matplotlib.use("Agg")``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib_inline", reason="matplotlib-inline (the notebook backend) is not installed")

INLINE = "module://matplotlib_inline.backend_inline"
ROOT = Path(__file__).resolve().parents[1]

#: Runs in the child: saves a two-region run (every run plot, the world map) and a small plan
#: (its two PNGs), and prints the backend before and after and the pyplot figures left open.
CHILD = """
import json, sys
import matplotlib, matplotlib.pyplot as plt
import swarmsim
before = matplotlib.get_backend()
sc = {"name": "nb", "seed": 1, "horizon": "6h", "warmup": "0s", "sample_every": "30m",
      "regions": {"us-east": {}, "eu-west": {}},
      "node_types": {"a1": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 2.0}},
      "fleet": {"us-east": {"a1": 1}, "eu-west": {"a1": 1}},
      "workloads": {"w": {"kind": "jobs", "arrivals": {"process": "poisson", "rate": "2/h"},
                          "origin": {"us-east": 0.5, "eu-west": 0.5}, "duration": "30m"}}}
swarmsim.simulate(sc).save(sys.argv[1] + "/run", report=False)
after_run = matplotlib.get_backend()
swarmsim.plan({**sc, "regions": {"us-east": {}}, "fleet": {"us-east": {"a1": 1}},
               "workloads": {"w": {**sc["workloads"]["w"], "origin": {"us-east": 1.0}}}},
              slo={"job_wait_mean_s": "1h"}, seeds=2, jobs=1, max_runs=4, out=sys.argv[1] + "/plan",
              report=False)
print(json.dumps({"before": before, "after_run": after_run, "after_plan": matplotlib.get_backend(),
                  "open_figures": len(plt.get_fignums())}))
"""


def test_saving_a_run_and_a_plan_keeps_the_notebook_backend(tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": INLINE, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == INLINE
    assert seen["after_run"] == INLINE, "saving a run switched the backend"
    assert seen["after_plan"] == INLINE, "saving a plan switched the backend"
    assert seen["open_figures"] == 0, "saving left pyplot figures open (a notebook would show them)"
    assert (tmp_path / "run" / "world_map.png").stat().st_size > 1000
    assert (tmp_path / "plan" / "cost-vs-slo.png").stat().st_size > 1000

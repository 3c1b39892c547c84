"""How much memory and time a run will take, estimated before it starts (``swarmsim validate``,
``swarmsim run``, ``simulate``, ``sweep``).

:func:`estimate` counts what a run holds: nodes (the fleet, or with scaling policies what their
``max_nodes`` and the regions' ``max_nodes`` allow), jobs and requests (each arrival process's
mean rate times the horizon; a trace: its rows, when the file is small enough to count, times
``sample`` and ``scale``), and time-series rows (horizon / ``sample_every`` x regions). The
request recorder has a fixed size (docs/architecture.md). Costs per item, from
docs/performance.md (2-vCPU AMD EPYC, 24 GB) and, for nodes and sample rows, from runs of the
quickstart measured for this module (same machine):

- base: 80 MB after importing ``swarmsim.simulation`` (performance.md, "where the memory goes"),
  and 2 s of imports and writing the folder (two-regions, 1.7 k jobs: 2.9 s end to end with
  ``--no-plots``, measured for this module);
- a job: 480 bytes of peak RSS (472 to 482 per extra job between 250k and 1M jobs) and 23 us
  (1M jobs in 21.1 to 25.1 s end to end); with scaling policies the control loop makes a job
  2.4x dearer (2.39x at 1M jobs, "the control loop");
- a request: 30 us. The benchmark's 17 us (8.47 M requests in 148 s) is a simple service on an
  idle core; the shipped inference scenarios took 26 to 38 us a request on the shared host
  (inference-edge-europe 29 s for ~1.1 M, inference-global-diurnal 61 s for ~1.7 M,
  resilience-region-outage 20 s for ~0.5 M). The recorder is about 50 MB whatever the count
  (122 MB peak in all; 125 to 128 MB for those three); with ``sample_requests: null`` each
  request is also a row, ~120 bytes;
- a node: 500 bytes and 9 us (quickstart with 100,000 and 1,000,000 a100x8 nodes: +49 MB and
  +0.55 s, +466 MB and +8.6 s);
- a time-series row: 180 bytes and 3 us (quickstart at sample_every 10s for 30 days,
  777,603 rows: +135 MB, +2.2 s).

:func:`check` refuses a run whose estimate exceeds the memory budget: the machine's RAM
(:func:`machine_memory`), or ``$SWARMSIM_MEMORY_BUDGET`` (a data size such as ``2GB``), or the
``budget`` argument. Estimates are within a factor of about two; they exist to stop runs that
would take a thousand times the machine, not to plan a tight fit.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from swarmsim.errors import ScenarioError
from swarmsim.scenario import (
    DeterministicArrivals,
    InferenceWorkloadSpec,
    RampArrivals,
    Scenario,
)
from swarmsim.units import parse_data

#: Bytes of peak RSS: the interpreter and imports, one job, one node, one time-series row, the
#: request recorder, one request row (``sample_requests: null``). Sources: the module docstring.
BASE_BYTES = 80e6
JOB_BYTES = 480.0
NODE_BYTES = 500.0
ROW_BYTES = 180.0
REQUEST_RECORDER_BYTES = 50e6
REQUEST_ROW_BYTES = 120.0
#: Seconds of wall time per job, request, node and time-series row; the factor for a job under
#: scaling policies.
BASE_S = 2.0
JOB_S = 23e-6
REQUEST_S = 30e-6
NODE_S = 9e-6
ROW_S = 3e-6
POLICY_FACTOR = 2.4
#: Above this estimated wall time, ``swarmsim validate`` and ``run`` warn (one line on stderr).
WARN_S = 300.0
#: A trace file is counted (its rows) only up to this size; larger ones count as unknown.
COUNT_LIMIT_BYTES = 64e6
#: The environment variable that replaces the machine's memory as the budget.
BUDGET_VARIABLE = "SWARMSIM_MEMORY_BUDGET"


@dataclass
class Estimate:
    """What a run is expected to hold and cost.

    Attributes:
        nodes: the most nodes the run can hold at once.
        jobs, requests: expected arrivals over the horizon (a trace's rows in full).
        rows: time-series rows (samples x regions).
        memory_bytes, time_s: the estimates.
        unknown: workloads whose size could not be counted (a large trace file).
        parts: memory per cause, bytes, each with the field that drives it (for the message).
    """

    nodes: int = 0
    jobs: float = 0.0
    requests: float = 0.0
    rows: float = 0.0
    memory_bytes: float = BASE_BYTES
    time_s: float = BASE_S
    unknown: list[str] = field(default_factory=list)
    parts: dict[str, tuple[float, str]] = field(default_factory=dict)

    def describe(self) -> str:
        """``~1.2 M jobs, ~600 MB, ~40 s`` (what ``swarmsim validate`` prints)."""
        what = []
        if self.jobs or not self.requests:
            what.append(f"~{count(self.jobs)} jobs")
        if self.requests:
            what.append(f"~{count(self.requests)} requests")
        if self.unknown:
            what.append(f"{', '.join(self.unknown)}: size unknown")
        return ", ".join([*what, f"~{size(self.memory_bytes)}", f"~{seconds(self.time_s)}"])


def count(n: float) -> str:
    """``1.2 M``, ``14 k``, ``57``."""
    for scale, unit in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if n >= scale:
            return f"{n / scale:.2g}{unit}" if n < 10 * scale else f"{n / scale:.0f}{unit}"
    return f"{n:.0f}"


def size(b: float) -> str:
    """``600 MB``, ``1.5 GB``, ``1.4 TB``, ``3e+05 PB``."""
    for scale, unit in ((1e15, "PB"), (1e12, "TB"), (1e9, "GB")):
        if b >= scale:
            return f"{b / scale:.3g} {unit}" if b < 1000 * scale or unit != "PB" else f"{b / scale:.2g} {unit}"
    return f"{b / 1e6:.0f} MB"


def seconds(s: float) -> str:
    """``40 s``, ``12 min``, ``3.5 h``, ``2.1e+05 days``."""
    if s < 120:
        return f"{max(s, 1):.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.2g} h"
    return f"{s / 86400:.3g} days"


def estimate(sc: Scenario) -> Estimate:
    """The expected size and cost of one run of ``sc`` (module docstring)."""
    est = Estimate()
    est.nodes = peak_nodes(sc)
    window = sc.horizon
    biggest_jobs: tuple[float, str] = (0.0, "horizon")
    for name, work in sc.workloads.items():
        n, where = _arrivals(sc, name, work, window)
        if n is None:
            est.unknown.append(f"workload {name} (trace)")
            continue
        if isinstance(work, InferenceWorkloadSpec):
            est.requests += n
            if work.sample_requests is None:
                est.parts[f"requests of {name}"] = (n * REQUEST_ROW_BYTES, where)
        else:
            est.jobs += n
            biggest_jobs = max(biggest_jobs, (n, where))
    est.rows = (sc.horizon / sc.sample_every) * len(sc.regions)
    est.parts["nodes"] = (est.nodes * NODE_BYTES, _biggest_fleet(sc))
    est.parts["jobs"] = (_held_jobs(sc, est.jobs) * JOB_BYTES, biggest_jobs[1])
    est.parts["time-series rows"] = (est.rows * ROW_BYTES, "sample_every")
    if est.requests:
        est.parts["request recorder"] = (REQUEST_RECORDER_BYTES, "workloads")
    est.memory_bytes = BASE_BYTES + sum(b for b, _ in est.parts.values())
    job_s = JOB_S * (POLICY_FACTOR if sc.policies else 1.0)
    est.time_s = BASE_S + est.jobs * job_s + est.requests * REQUEST_S + est.nodes * NODE_S + est.rows * ROW_S
    return est


def _held_jobs(sc: Scenario, jobs: float) -> float:
    """Job rows held in memory at the peak: every job under ``record: full``; under ``stream``
    and ``aggregate`` at most one chunk of ended jobs (``record.chunk_jobs``) plus the sampled
    rows (one in ``record.sample_every``), so the figure stops growing with the horizon."""
    rec = sc.record
    if rec is None or rec.mode == "full":
        return jobs
    return min(jobs, float(rec.chunk_jobs)) + jobs / rec.sample_every


def peak_nodes(sc: Scenario) -> int:
    """The fleet (hot spares included); with scaling policies, at least what the regions'
    ``max_nodes`` or else the policies' ``max_nodes`` allow, when either is finite."""
    fleet = sum(n + math.ceil(sc.failures.spare * n - 1e-9) for counts in sc.fleet.values()
                for n in counts.values() if isinstance(n, int))
    if not sc.scaling:
        return fleet
    caps = [spec.max_nodes for spec in sc.regions.values()]
    regions = sum(c for c in caps if c is not None) if all(c is not None for c in caps) else math.inf
    asked = [p.params.get("max_nodes") for p in sc.policies if p.kind != "static"]
    policies = sum(a for a in asked if isinstance(a, int)) if asked and all(isinstance(a, int) for a in asked) \
        else math.inf
    bound = min(regions, policies)
    return int(max(fleet, bound)) if math.isfinite(bound) else fleet


def _biggest_fleet(sc: Scenario) -> str:
    entries = [(n, f"fleet.{r}.{t}") for r, c in sc.fleet.items() for t, n in c.items() if isinstance(n, int)]
    return max(entries)[1] if entries else "fleet"


def _arrivals(sc: Scenario, name: str, work: object, window: float) -> tuple[float | None, str]:
    """Expected arrivals of one workload over ``window`` seconds, and the field that sets them."""
    base = f"workloads.{name}"
    spec = getattr(work, "arrivals", None)
    if spec is None:
        trace = work.trace  # type: ignore[attr-defined]  # a workload with no arrivals has a trace
        rows = _trace_rows(sc, trace.path)
        return (None if rows is None else rows * trace.sample * trace.scale), f"{base}.trace"
    from swarmsim.workloads.arrivals import mean_rate

    if isinstance(spec, DeterministicArrivals):
        n = spec.rate * max(window - spec.start, 0.0)
        return (min(n, spec.count) if spec.count is not None else n), f"{base}.arrivals.rate"
    if isinstance(spec, RampArrivals):
        return _ramp(spec, window), f"{base}.arrivals.end_rate"
    return mean_rate(spec) * window, f"{base}.arrivals"


def _ramp(spec: RampArrivals, window: float) -> float:
    """Integral of a ramp's rate over [0, window]."""
    before = min(spec.start, window)
    during = min(max(window - spec.start, 0.0), spec.over)
    after = max(window - spec.start - spec.over, 0.0)
    a, b = spec.start_rate, spec.end_rate
    if spec.shape == "exponential" and a != b:
        k = math.log(b / a) / spec.over
        ramped = a * math.expm1(k * during) / k
    else:
        ramped = a * during + (b - a) * during * during / (2 * spec.over)
    return a * before + ramped + b * after


def _trace_rows(sc: Scenario, path: str) -> float | None:
    """Data lines of a trace file (all of it: the window is not applied); ``None`` when the file
    is large (over :data:`COUNT_LIMIT_BYTES`) or cannot be read."""
    file = Path(path)
    if not file.is_absolute() and sc.source is not None:
        file = Path(sc.source).parent / file
    try:
        if file.stat().st_size > COUNT_LIMIT_BYTES:
            return None
        with file.open("rb") as fh:
            lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return None
    return float(max(lines - 1, 0))


def machine_memory() -> float | None:
    """Total RAM of this machine, bytes (``os.sysconf``, else ``/proc/meminfo``); ``None`` if unknown."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_budget(budget: float | str | None = None) -> tuple[float | None, str]:
    """The budget in bytes and what it is: ``budget``, else ``$SWARMSIM_MEMORY_BUDGET``, else RAM."""
    if budget is None and os.environ.get(BUDGET_VARIABLE):
        text = os.environ[BUDGET_VARIABLE]
        try:
            return parse_data(text), f"{BUDGET_VARIABLE}={text}"
        except (ValueError, TypeError):
            raise ScenarioError(None, [(BUDGET_VARIABLE, f"expected a data size such as 2GB, got {text!r}")]) from None
    if budget is not None:
        return (parse_data(budget) if isinstance(budget, str) else float(budget)), "the memory budget"
    ram = machine_memory()
    return ram, "the machine's memory"


_ADVICE = {
    "nodes": "fewer nodes",
    "jobs": "a lower arrival rate or a shorter horizon",
    "time-series rows": "a coarser sample_every or a shorter horizon",
}


def check(sc: Scenario, budget: float | str | None = None) -> Estimate:
    """The estimate of ``sc``; a :class:`ScenarioError` (one problem, naming the field that
    drives the memory) when it exceeds the budget (:func:`memory_budget`)."""
    est = estimate(sc)
    limit, what = memory_budget(budget)
    if limit is not None and est.memory_bytes > limit:
        cause, (_, where) = max(est.parts.items(), key=lambda kv: kv[1][0])
        advice = _ADVICE.get(cause, "sample_requests (a fixed-size sample), or fewer requests")
        shares = ", ".join(f"{part} ~{size(b)}" for part, (b, _) in est.parts.items()
                           if b >= 0.01 * est.memory_bytes)
        raise ScenarioError(sc.source, [(where, (
            f"this run would need ~{size(est.memory_bytes)} of memory ({est.describe()}; {shares}), more "
            f"than {what} ({size(limit)}); {cause} dominate: use {advice}"))])
    return est

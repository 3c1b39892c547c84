"""The analytic first guess of a capacity plan: offered load, Erlang C / M/G/c waits, RTT, residency.

Everything here is closed-form or a few thousand numpy samples, so a whole fleet is sized in
milliseconds; the simulation (``search.py``) then checks the candidates near the boundary.

The model, per region ``r`` of the plan (docs/planning.md gives the sources and assumptions):

* **Where demand goes.** The users of origin ``o`` are served in ``o`` itself when it is one of
  the plan's regions and its residency allows it, otherwise in the allowed plan region with the
  lowest RTT from ``o`` (the ``nearest`` rule of the router). No allowed region: the plan is
  infeasible, whatever it costs (residency is a constraint, never a cost).
* **Jobs** form an M/G/c queue per region: ``c = GPUs / E[gpus]`` servers, offered load
  ``a = lambda * E[duration] / speed`` (Erlang), wait from Erlang C with the Allen-Cunneen
  factor ``(1 + cs^2) / 2`` (Poisson arrivals, ``cs`` the coefficient of variation of the
  duration), and the exponential tail ``P(W > t) = C * exp(-theta t)``,
  ``theta = (c mu - lambda) * 2 / (1 + cs^2)``. For exponential service (``cs = 1``) that is the
  exact Erlang C service level ``P(W <= t) = 1 - C(c, a) exp(-(c mu - lambda) t)``; otherwise
  the M/G/c approximation whose mean is Allen-Cunneen's ``E[W] = C / (c mu - lambda) (1 + cs^2) / 2``.
  Service-level figures (:mod:`swarmsim.levels`) the scenario's ``report.figures`` names, such
  as ``job_wait_within_20s`` or ``job_wait_p80_s[training]``, are predicted from the same tail.
* **Inference** sites are M/G/c queues with ``c = replicas * max_batch`` batch slots (with
  ``batching: iteration``, ``max_batch`` bounded by the KV cache, :func:`kv_batch_bound`); the
  service time is the replica's :class:`~swarmsim.serving.ServiceProfile` at the mean batch
  ``b`` (a fixed point of ``b = clip(a / replicas, 1, max_batch)``), evaluated hour by hour of
  a diurnal day. Latency = access latency + RTT + wait + service, as a weighted sample whose
  quantiles are the predicted ``request_latency_p*_s``.

Times are in seconds, rates per second, money in USD.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from scipy import optimize
from scipy import stats as sps

from swarmsim.errors import ScenarioError
from swarmsim.kvcache import kv_capacity_tokens
from swarmsim.levels import Level, parse_level
from swarmsim.pricing import rates_for
from swarmsim.scenario import (
    DiurnalArrivals,
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    Scenario,
)
from swarmsim.serving import profile_for_replica
from swarmsim.workloads.jobs import held_gpus

#: Hours billed in an average month (365.25 * 24 / 12, rounded as cloud price sheets do).
HOURS_PER_MONTH = 730.0

#: Utilization the analytic start aims at for SLO metrics it has no formula for.
DEFAULT_UTILIZATION = 0.8

#: Samples per (region, hour) for the latency distribution of an inference site.
LATENCY_SAMPLES = 2000

#: The figures the analytic model predicts; other SLO metrics are sized by utilization only.
PREDICTED = ("job_wait_mean_s", "job_wait_p50_s", "job_wait_p95_s", "job_wait_p99_s",
             "request_latency_mean_s", "request_latency_p50_s", "request_latency_p95_s",
             "request_latency_p99_s")

Fleet = dict[str, dict[str, int]]
"""region -> node type -> nodes."""


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in M/M/c (Erlang C), 0..1.

    ``offered`` is lambda / mu in Erlang. Erlang B comes from the Poisson distribution
    (``B = pmf(c; a) / cdf(c; a)``, scipy), then ``C = B / (1 - rho (1 - B))``. An unstable
    queue (``offered >= servers``) returns 1.
    """
    if offered <= 0:
        return 0.0
    if servers <= offered:
        return 1.0
    erlang_b = float(sps.poisson.pmf(servers, offered) / sps.poisson.cdf(servers, offered))
    rho = offered / servers
    return erlang_b / (1.0 - rho * (1.0 - erlang_b))


@dataclass(frozen=True)
class Queue:
    """An M/G/c queue: ``servers``, arrival ``rate_per_s``, ``service_mean_s`` and the squared
    coefficient of variation ``service_scv`` of the service time."""

    servers: int
    rate_per_s: float
    service_mean_s: float
    service_scv: float = 1.0

    @property
    def offered(self) -> float:
        """Offered load, Erlang."""
        return self.rate_per_s * self.service_mean_s

    @property
    def stable(self) -> bool:
        """Whether the queue has a steady state (offered load below the servers)."""
        return self.offered < self.servers or self.rate_per_s == 0

    @property
    def p_wait(self) -> float:
        """Probability of waiting (Erlang C; the M/M/c value, used for M/G/c too), 0..1."""
        return erlang_c(self.servers, self.offered)

    @property
    def decay_per_s(self) -> float:
        """Rate ``theta`` of the wait tail ``P(W > t) = C exp(-theta t)``, 1/s (Allen-Cunneen)."""
        if not self.stable:
            return 0.0
        if self.rate_per_s == 0:
            return math.inf
        return (self.servers / self.service_mean_s - self.rate_per_s) * 2.0 / (1.0 + self.service_scv)

    def wait_mean_s(self) -> float:
        """Mean wait in queue, s (inf when unstable)."""
        if not self.stable:
            return math.inf
        return 0.0 if self.rate_per_s == 0 else self.p_wait / self.decay_per_s

    def wait_quantile_s(self, q: float) -> float:
        """The q-quantile of the wait, s: 0 when ``P(wait) <= 1 - q``, else ``ln(C / (1-q)) / theta``."""
        if not self.stable:
            return math.inf
        c = self.p_wait
        return 0.0 if c <= 1.0 - q else math.log(c / (1.0 - q)) / self.decay_per_s

    def service_level(self, t: float) -> float:
        """``P(W <= t)``, 0..1: ``1 - C exp(-theta t)`` (exact Erlang C for exponential service)."""
        if not self.stable:
            return 0.0
        if self.rate_per_s == 0:
            return 1.0
        return 1.0 - self.p_wait * math.exp(-self.decay_per_s * t)

    def wait_sample_s(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws of the wait, s: 0 with probability ``1 - C``, else exponential of rate theta."""
        if not self.stable:
            return np.full(n, math.inf)
        if self.rate_per_s == 0:
            return np.zeros(n)
        waits = rng.random(n) < self.p_wait
        return np.where(waits, rng.exponential(1.0 / self.decay_per_s, n), 0.0)


# --- demand ------------------------------------------------------------------------------------


def hourly_rates(scenario: Scenario, name: str, origin: str, scale: float = 1.0) -> np.ndarray:
    """Mean arrival rate of workload ``name`` from ``origin`` in each UTC hour of a day, 1/s (24 values).

    Diurnal arrivals follow their cosine in the origin's local time; every other process is
    taken at its long-run mean rate (a ramp at its end rate, a trace at its file's mean rate is
    not known here and counts as zero: planning needs synthetic arrivals).
    """
    from swarmsim.workloads.arrivals import diurnal_factor, mean_rate

    work = scenario.workloads[name]
    if work.arrivals is None:
        return np.zeros(24)
    rate = mean_rate(work.arrivals) * work.origin.get(origin, 0.0) * scale
    if isinstance(work.arrivals, DiurnalArrivals):
        hours = (np.arange(24) + 0.5) * 3600.0
        return rate * diurnal_factor(work.arrivals, hours, scenario.regions[origin].utc_offset)
    return np.full(24, rate)


def assignment(scenario: Scenario, regions: list[str]) -> dict[tuple[str, str], str]:
    """``(workload, origin) -> serving region`` among ``regions`` (module docstring).

    Raises:
        ScenarioError: some users have no allowed region in the plan (names the workload, the
            origin, its jurisdiction and the regions given): the residency constraint binds.
    """
    from swarmsim.world.network import rtt_matrix

    names, rtt = rtt_matrix(scenario)
    index = {n: i for i, n in enumerate(names)}
    out: dict[tuple[str, str], str] = {}
    for wname, work in scenario.workloads.items():
        for origin, share in work.origin.items():
            if share <= 0:
                continue
            allowed = scenario.allowed_jurisdictions(work, origin)
            ok = [r for r in regions if allowed is None or scenario.regions[r].jurisdiction in allowed]
            if not ok:
                rule = work.residency if isinstance(work.residency, str) else ", ".join(work.residency)
                raise ScenarioError(scenario.source, [("regions", (
                    f"residency binds: users of workloads.{wname} in {origin} "
                    f"({scenario.regions[origin].jurisdiction}, residency {rule}) have no allowed region "
                    f"among {', '.join(regions)}; add a region in {', '.join(sorted(allowed or []))}"))])
            out[(wname, origin)] = min(ok, key=lambda r: (r != origin, rtt[index[origin], index[r]], r))
    return out


def network_s(scenario: Scenario, origin: str, region: str) -> float:
    """Access latency of ``region`` plus the RTT from ``origin`` to it, s."""
    from swarmsim.world.network import rtt_matrix

    names, rtt = rtt_matrix(scenario)
    return scenario.regions[region].access_latency_s + float(rtt[names.index(origin), names.index(region)])


# --- prediction ----------------------------------------------------------------------------------


@dataclass
class Prediction:
    """What the analytic model says of one fleet.

    Attributes:
        figures: predicted headline figures (the keys of :data:`PREDICTED` that apply).
        utilization: per region, the highest hourly offered load over capacity, 0..inf.
        stable: every queue has a steady state in every hour.
    """

    figures: dict[str, float] = field(default_factory=dict)
    utilization: dict[str, float] = field(default_factory=dict)

    @property
    def stable(self) -> bool:
        return all(u < 1.0 for u in self.utilization.values())


class Model:
    """The analytic model of one scenario and one set of plan regions.

    Args:
        scenario: the base scenario (its workloads, regions, network, node types).
        regions: the regions that may hold nodes.
        scale: demand multiplier applied to every arrival rate.
    """

    def __init__(self, scenario: Scenario, regions: list[str], scale: float = 1.0) -> None:
        self.scenario, self.regions, self.scale = scenario, list(regions), scale
        self.serving = assignment(scenario, self.regions)
        self.rng_seed = 0
        self._tokens: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.levels: list[Level] = [parse_level(t) for t in (scenario.report.figures if scenario.report else [])]
        rng = np.random.default_rng(0)
        for name, work in scenario.workloads.items():
            if isinstance(work, InferenceWorkloadSpec):
                self._tokens[name] = (work.prompt_tokens.sample(rng, LATENCY_SAMPLES),
                                      work.output_tokens.sample(rng, LATENCY_SAMPLES))

    # -- capacity of a fleet -------------------------------------------------------------------

    def replicas(self, name: str, counts: Mapping[str, int]) -> int:
        """Replicas of inference workload ``name`` that fit on a region's ``counts`` (node type -> nodes)."""
        work = cast(InferenceWorkloadSpec, self.scenario.workloads[name])  # named by the caller as one
        accepted = set(self.scenario.node_types_for(work))
        return sum(n * (self.scenario.node_types[t].gpus // work.replica.gpus)
                   for t, n in counts.items() if t in accepted)

    def _rates(self, name: str, region: str) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
        """Total hourly rate served in ``region`` and the per-origin parts."""
        parts = [(o, hourly_rates(self.scenario, name, o, self.scale))
                 for (w, o), r in self.serving.items() if w == name and r == region]
        total = sum((p for _, p in parts), np.zeros(24))
        return total, parts

    def predict(self, fleet: Fleet, regions: list[str] | None = None,
                workloads: set[str] | None = None) -> Prediction:
        """Predicted figures of ``fleet`` (absent regions hold nothing), over the users served in
        ``regions`` (default all) by ``workloads`` (default all)."""
        pred = Prediction()
        job_tails: list[tuple[float, Queue]] = []  # (weight, queue) over regions
        job_parts: list[tuple[float, Queue, str, str]] = []  # (weight, queue, workload, origin)
        lat_samples: list[np.ndarray] = []
        lat_weights: list[np.ndarray] = []
        lat_origins: list[str] = []
        rng = np.random.default_rng(self.rng_seed)
        for region in regions or self.regions:
            counts = fleet.get(region, {})
            util = 0.0
            for name, work in self.scenario.workloads.items():
                if workloads is not None and name not in workloads:
                    continue
                total, parts = self._rates(name, region)
                if not total.any():
                    continue
                if isinstance(work, JobsWorkloadSpec):
                    q = self._job_queue(work, counts, float(total.mean()))
                    util = max(util, q.offered / max(q.servers, 1e-9))
                    job_tails.append((float(total.mean()), q))
                    job_parts += [(float(part.mean()), q, name, origin) for origin, part in parts]
                else:
                    u, samples, weights, origins = self._site(name, work, region, counts, total, parts, rng)
                    util = max(util, u)
                    lat_samples += samples
                    lat_weights += weights
                    lat_origins += origins
            pred.utilization[region] = util
        if job_tails:
            pred.figures.update(_job_figures(job_tails))
        if lat_samples:
            x, w = np.concatenate(lat_samples), np.concatenate(lat_weights)
            pred.figures.update(_latency_figures(x, w))
        pred.figures.update(self._level_figures(job_parts, lat_samples, lat_weights, lat_origins))
        return pred

    def _level_figures(self, job_parts: list[tuple[float, Queue, str, str]], samples: list[np.ndarray],
                       weights: list[np.ndarray], origins: list[str]) -> dict[str, float]:
        """The service levels of ``report.figures`` the model predicts: job waits (any selector)
        and request latencies (a region selector or none); the others are left out."""
        out: dict[str, float] = {}
        for level in self.levels:
            if level.base == "job_wait":
                tails = [(w, q) for w, q, name, origin in job_parts
                         if level.workload in (None, name) and level.region in (None, origin)]
                if tails:
                    out[level.key] = _wait_level(tails, level)
            elif level.base == "request_latency" and samples:
                keep = [i for i, o in enumerate(origins) if level.region in (None, o)]
                if keep:
                    x = np.concatenate([samples[i] for i in keep])
                    w = np.concatenate([weights[i] for i in keep])
                    out[level.key] = _sample_level(x, w, level)
        return out

    def _job_queue(self, work: JobsWorkloadSpec, counts: Mapping[str, int], rate: float) -> Queue:
        types = [t for t in self.scenario.node_types_for(work) if t in counts and not self._inference_type(t)]
        gpus = sum(counts[t] * self.scenario.node_types[t].gpus for t in types)
        speed = (sum(counts[t] * self.scenario.node_types[t].gpus * self.scenario.node_types[t].speed
                     for t in types) / gpus) if gpus else 1.0
        mean_gpus = held_gpus(self.scenario, work)
        duration = work.duration.expected() / speed  # type: ignore[union-attr]  # a jobs workload without a trace has a duration
        scv = work.duration.variance() / work.duration.expected() ** 2  # type: ignore[union-attr]  # a jobs workload without a trace has a duration
        return Queue(int(gpus // mean_gpus), rate, duration, scv)

    def _inference_type(self, node_type: str) -> bool:
        return any(isinstance(w, InferenceWorkloadSpec) and node_type in self.scenario.node_types_for(w)
                   for w in self.scenario.workloads.values())

    def _site(self, name: str, work: InferenceWorkloadSpec, region: str, counts: Mapping[str, int],
              total: np.ndarray, parts: list[tuple[str, np.ndarray]],
              rng: np.random.Generator) -> tuple[float, list[np.ndarray], list[np.ndarray], list[str]]:
        replicas = self.replicas(name, counts)
        accepted = [t for t in self.scenario.node_types_for(work) if counts.get(t, 0) > 0]
        if replicas == 0 or not accepted:
            n = LATENCY_SAMPLES
            return math.inf, [np.full(n, math.inf)], [np.full(n, float(total.sum()) / n)], [parts[0][0]]
        main = max(accepted, key=lambda t: counts[t] * self.scenario.node_types[t].gpus)
        profile = profile_for_replica(work.replica, self.scenario.node_types[main].gpu)
        prompt, output = self._tokens[name]
        cap = kv_batch_bound(work, self.scenario.node_types[main].gpu, prompt, output)
        slots = replicas * cap
        util, samples, weights, origins = 0.0, [], [], []
        for hour in range(24):
            lam = float(total[hour])
            if lam <= 0:
                continue
            batch = 1.0
            for _ in range(20):  # fixed point of the mean batch
                service = profile.service_s(prompt, output, batch)
                nxt = float(np.clip(lam * service.mean() / replicas, 1.0, cap))
                if abs(nxt - batch) < 1e-3:
                    break
                batch = nxt
            mean = float(service.mean())
            q = Queue(slots, lam, mean, float(service.var() / mean**2) if mean > 0 else 1.0)
            util = max(util, q.offered / slots)
            wait = q.wait_sample_s(rng, LATENCY_SAMPLES)
            for origin, rate in parts:
                if rate[hour] <= 0:
                    continue
                samples.append(network_s(self.scenario, origin, region) + wait + service)
                weights.append(np.full(LATENCY_SAMPLES, rate[hour] / LATENCY_SAMPLES))
                origins.append(origin)
        return util, samples, weights, origins


def kv_batch_bound(work: InferenceWorkloadSpec, gpu: str, prompt: np.ndarray, output: np.ndarray) -> int:
    """Most requests a replica holds at once: ``max_batch``, and with ``batching: iteration``
    and a KV cache also ``floor(KV tokens / mean KV a request holds)``, where a request holds
    its prompt plus on average half its output over its life (docs/serving.md)."""
    r = work.replica
    if r.batching != "iteration" or r.kv_cache is False:
        return r.max_batch
    cap = kv_capacity_tokens(r.model, gpu, r.gpus, r.gpu_memory_utilization)
    if cap is None:
        return r.max_batch
    held = float(np.mean(prompt + output / 2.0))
    return int(max(1, min(r.max_batch, math.floor(cap / held) if held > 0 else r.max_batch)))


def _job_figures(tails: list[tuple[float, Queue]]) -> dict[str, float]:
    total = sum(w for w, _ in tails)
    if any(not q.stable for w, q in tails if w > 0):
        return {k: math.inf for k in PREDICTED if k.startswith("job_")}
    out = {"job_wait_mean_s": sum(w * q.wait_mean_s() for w, q in tails) / total}

    def tail(t: float) -> float:
        return sum(w * q.p_wait * math.exp(-q.decay_per_s * t) for w, q in tails if w > 0) / total

    for key, p in (("job_wait_p50_s", 0.5), ("job_wait_p95_s", 0.95), ("job_wait_p99_s", 0.99)):
        if tail(0.0) <= 1.0 - p:
            out[key] = 0.0
        else:
            hi = max(q.wait_quantile_s(p) for _, q in tails) + 1.0
            out[key] = float(optimize.brentq(lambda t, p=p: tail(t) - (1.0 - p), 0.0, hi))
    return out


def _wait_level(tails: list[tuple[float, Queue]], level: Level) -> float:
    """A job-wait level over queues weighted by arrival rate: the share within ``level.within_s``
    (``sum w P(W <= t) / sum w``) or the wait at ``level.quantile``, s."""
    tails = [(w, q) for w, q in tails if w > 0]
    total = sum(w for w, _ in tails)
    if total <= 0:
        return math.nan
    if any(not q.stable for _, q in tails):
        return 0.0 if level.quantile is None else math.inf

    def tail(t: float) -> float:
        return sum(w * (1.0 - q.service_level(t)) for w, q in tails if w > 0) / total

    if level.quantile is None:
        return 1.0 - tail(float(level.within_s))  # type: ignore[arg-type]  # a level without a quantile has within_s
    p = level.quantile
    if tail(0.0) <= 1.0 - p:
        return 0.0
    hi = max(q.wait_quantile_s(p) for _, q in tails) + 1.0
    return float(optimize.brentq(lambda t: tail(t) - (1.0 - p), 0.0, hi))


def _sample_level(x: np.ndarray, w: np.ndarray, level: Level) -> float:
    """A latency level of weighted samples ``x`` (s): the weighted share within, or a quantile."""
    if level.quantile is None:
        return float(w[x <= float(level.within_s)].sum() / w.sum())  # type: ignore[arg-type]  # a level without a quantile has within_s
    order = np.argsort(x, kind="stable")
    xs, cum = x[order], np.cumsum(w[order]) / w.sum()
    return float(xs[min(int(np.searchsorted(cum, level.quantile)), len(xs) - 1)])


def _latency_figures(x: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Weighted mean and quantiles of latency samples ``x`` (s; inf = an unstable hour)."""
    order = np.argsort(x, kind="stable")
    xs, cum = x[order], np.cumsum(w[order]) / w.sum()
    out = {"request_latency_mean_s": float(np.sum(x * w) / w.sum()) if np.isfinite(x).all() else math.inf}
    for key, p in (("request_latency_p50_s", 0.5), ("request_latency_p95_s", 0.95),
                   ("request_latency_p99_s", 0.99)):
        out[key] = float(xs[min(int(np.searchsorted(cum, p)), len(xs) - 1)])
    return out


# --- sizing -----------------------------------------------------------------------------------------


def monthly_cost_usd(scenario: Scenario, fleet: Fleet) -> float:
    """Cost of running ``fleet`` for a month (:data:`HOURS_PER_MONTH`), USD: nodes x GPUs x the
    pool's price per GPU-hour (its pricing model's: :func:`swarmsim.pricing.rates_for`, reserved
    at its amortized rate) x the region's price multiplier."""
    total = 0.0
    for region, counts in fleet.items():
        mult = scenario.regions[region].price_multiplier
        for t, n in counts.items():
            total += n * scenario.node_types[t].gpus * rates_for(scenario, t).effective_usd_per_gpu_hour * mult
    return total * HOURS_PER_MONTH


def supply_cap(scenario: Scenario, region: str, node_type: str) -> int | None:
    """Most nodes of ``node_type`` the plan may put in ``region``: the region's ``max_nodes`` and
    ``limits.pools`` max (None = unbounded)."""
    caps = [scenario.regions[region].max_nodes]
    bound = scenario.limits.pools.get(region, {}).get(node_type)
    caps.append(bound.max if bound is not None else None)
    known = [c for c in caps if c is not None]
    return min(known) if known else None


def groups(scenario: Scenario, node_types: list[str]) -> dict[str, list[str]]:
    """What needs capacity -> the plan node types that can give it: each inference workload its
    accepted types (dedicated to its replicas), and ``"jobs"`` (every jobs workload) the
    accepted types no inference workload claims.

    Raises:
        ScenarioError: a workload has no usable node type among ``node_types``, or two inference
            workloads accept the same one.
    """
    out: dict[str, list[str]] = {}
    claimed: dict[str, str] = {}
    for name, work in scenario.workloads.items():
        if isinstance(work, InferenceWorkloadSpec):
            ok = [t for t in scenario.node_types_for(work) if t in node_types
                  and scenario.node_types[t].gpus >= work.replica.gpus]
            for t in ok:
                if t in claimed:
                    raise ScenarioError(scenario.source, [("node-types", (
                        f"{t} would hold replicas of both workloads.{claimed[t]} and workloads.{name}; "
                        "planning dedicates a node type to one service: give them distinct GPU types"))])
                claimed[t] = name
            if not ok:
                raise ScenarioError(scenario.source, [("node-types", (
                    f"no node type among {', '.join(node_types)} can hold a replica of workloads.{name} "
                    f"({work.replica.gpus} x {'/'.join(work.replica.accepted or ['any GPU'])})"))])
            out[name] = ok
    for name, work in scenario.workloads.items():
        if isinstance(work, JobsWorkloadSpec):
            ok = [t for t in scenario.node_types_for(work) if t in node_types and t not in claimed]
            if not ok:
                raise ScenarioError(scenario.source, [("node-types", (
                    f"no node type among {', '.join(node_types)} can run workloads.{name} "
                    "(types holding replicas are dedicated to them)"))])
            out["jobs"] = [t for t in out.get("jobs", ok) if t in ok]
    return out


def stability_floor(model: Model, region: str, group: str, node_type: str) -> int:
    """Fewest nodes of ``node_type`` with which ``group``'s queues in ``region`` are stable."""
    names = _group_workloads(model.scenario, group)

    def stable(n: int) -> bool:
        return model.predict({region: {node_type: n}}, [region], names).utilization.get(region, 0.0) < 1.0

    return _smallest(stable, 0, None) or 0


def size_region(model: Model, region: str, node_types: list[str],
                meets: Callable[[Prediction], bool]) -> dict[str, int]:
    """The cheapest single-type count per capacity group in ``region`` that ``meets`` the SLOs by
    the analytic model (``meets(prediction) -> bool``), capped by supply (the cap when the
    target is out of reach)."""
    scenario = model.scenario
    counts: dict[str, int] = {}
    for group, types in groups(scenario, node_types).items():
        names = _group_workloads(scenario, group)
        if not any(model._rates(w, region)[0].any() for w in names):
            continue
        best: tuple[bool, float, str, int] | None = None
        for t in types:
            cap = supply_cap(scenario, region, t)

            def ok(n: int, t: str = t, names: set[str] = names) -> bool:
                return meets(model.predict({region: {t: n}}, [region], names))

            n = _smallest(ok, 0, cap)
            reached = n is not None
            n = cap if n is None else n
            if n is None:
                continue
            cost = monthly_cost_usd(scenario, {region: {t: n}})
            if best is None or (not reached, cost) < (best[0], best[1]):
                best = (not reached, cost, t, n)
        if best is not None:
            counts[best[2]] = counts.get(best[2], 0) + best[3]
    return counts


def _group_workloads(scenario: Scenario, group: str) -> set[str]:
    if group == "jobs":
        return {n for n, w in scenario.workloads.items() if isinstance(w, JobsWorkloadSpec)}
    return {group}


def _smallest(ok: Callable[[int], bool], lo: int, cap: int | None, limit: int = 100_000) -> int | None:
    """Smallest n > lo (n <= cap) with ``ok(n)``, for monotone ``ok``; None if none."""
    hi = lo + 1
    while not ok(hi):
        lo, hi = hi, 2 * hi
        if cap is not None and lo >= cap:
            return None
        if cap is not None:
            hi = min(hi, cap)
        if hi > limit:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi

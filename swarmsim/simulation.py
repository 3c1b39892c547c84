"""``simulate()``: a scenario in, a :class:`~swarmsim.result.Result` out."""

from __future__ import annotations

import logging
import os
from typing import Any

from swarmsim.estimate import check as check_estimate
from swarmsim.metrics.aggregate_summary import breakdown_aggregate, headline_figures_aggregate, histograms_frame
from swarmsim.metrics.frames import (
    actions_frame,
    billing_frame,
    jobs_frame,
    kv_cache_frame,
    lost_frame,
    replicas_frame,
    request_timeseries_frame,
    requests_frame,
    timeseries_frame,
)
from swarmsim.metrics.levels import level_figures
from swarmsim.metrics.pricing import (
    busy_by_pool,
    plain_node_cost_usd,
    priced_billing,
    priced_breakdown,
    pricing_figures,
)
from swarmsim.metrics.requests import request_breakdown, request_figures
from swarmsim.metrics.resilience import availability_frame, failures_frame, resilience_figures, resilience_table
from swarmsim.metrics.stream import finish_chunks, sampling_warning
from swarmsim.metrics.summary import breakdown, headline_figures
from swarmsim.result import Result
from swarmsim.scenario import Scenario, load_scenario
from swarmsim.scenario.sharing import inflation, shares
from swarmsim.world.world import Progress, build_world, run_world

log = logging.getLogger(__name__)


def simulate(
    scenario: str | os.PathLike[str] | dict[str, Any] | Scenario,
    overrides: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Result:
    """Run one scenario to its horizon.

    Args:
        scenario: a path to a YAML file, a dict, or a loaded :class:`Scenario`.
        overrides: ``{"path.to.field": value}`` applied before validation.
        progress: optional callback ``(simulated_s, horizon_s)`` called 100 times per run.

    Raises:
        ScenarioError: the scenario is invalid (the message names the file and field), or its
            estimated memory exceeds the budget (:func:`swarmsim.estimate.check`).
    """
    sc = load_scenario(scenario, overrides)
    check_estimate(sc)  # refuses a run that cannot fit in memory, before it starts
    if (warning := sampling_warning(sc)) is not None:
        log.warning("%s: %s", sc.name, warning)
    if shares(sc) and inflation(sc):  # workload inflation on a sharing fleet (docs/sharing.md)
        from swarmsim.sharing_run import simulate_sharing

        return simulate_sharing(sc)
    world = build_world(sc)
    recorder, wall_s = run_world(world, progress)
    agg = getattr(recorder, "aggregate", None)  # record: stream or aggregate (docs/metrics.md)
    jobs, jobs_file = (jobs_frame(recorder), None) if agg is None else finish_chunks(recorder)  # type: ignore[arg-type]  # with an aggregate, the recorder is a ChunkedRecorder
    billing = billing_frame(recorder)
    actions = actions_frame(recorder)
    lost = lost_frame(recorder)
    services = world.services
    replicas = replicas_frame(services.replica_log, [s.name for s in services.services], recorder)
    rrec = services.recorder
    failures = failures_frame(world.failures.rows if world.failures else [], world.region_names,
                              [t.name for t in world.node_types])
    availability = availability_frame(services.availability())
    figures = (sc, jobs) if agg is None else (agg, jobs.iloc[:0])
    summary = (headline_figures if agg is None else headline_figures_aggregate)(
        *figures, billing=billing, actions=actions, sim_events=world.events, wall_time_s=wall_s, lost=lost,
        replicas=replicas, requests=request_figures(rrec) if services else None,
        resilience=resilience_figures(sc, failures, availability))
    if sc.report is not None and sc.report.figures:  # service levels on request (docs/metrics.md)
        summary.update(level_figures(sc.report.figures, jobs, sc.warmup, sc.horizon, rrec if services else None))
    bill_out, bd = billing, (breakdown(sc, jobs, billing, lost, replicas, request_breakdown(rrec)) if agg is None
                       else breakdown_aggregate(agg, billing, lost, replicas, request_breakdown(rrec)))
    if sc.pricing:  # the bill by pricing model (docs/pricing-power-carbon.md)
        bill_out = priced_billing(sc, billing)
        busy = busy_by_pool(sc, jobs, lost, replicas, agg)
        figs = pricing_figures(sc, bill_out, busy)
        egress = float(summary["cost_usd"] or 0.0) - plain_node_cost_usd(sc, billing)  # what is not nodes
        summary["cost_usd"] = egress + figs.pop("node_cost_usd")
        summary.update(figs)
        bd = priced_breakdown(sc, bd, bill_out, busy)
    if world.sharing is not None:  # a sharing fleet's figures (docs/sharing.md)
        summary.update(world.sharing.summary())  # type: ignore[arg-type]  # a sharing summary's values are numbers, the dict's declared type is wider
    failed = {name: rrec.failed[o] for o, name in enumerate(world.region_names)}
    if world.bad_rows:
        summary["trace_rows_skipped"] = sum(t.total for t in world.bad_rows.values())
        for name, tally in world.bad_rows.items():
            for reason, count in tally.skipped.most_common():
                log.warning("workload %s: skipped %d trace rows of %s (%s; first at line %d)", name, count,
                            tally.file, reason, tally.first_line[reason])
    result = Result(
        scenario=sc,
        summary=summary,
        jobs=jobs,
        timeseries=timeseries_frame(recorder),
        actions=actions,
        billing=bill_out,
        breakdown=bd,
        lost=lost,
        requests=requests_frame(rrec),
        request_timeseries=request_timeseries_frame(rrec),
        replicas=replicas,
        failures=failures,
        availability=availability,
        resilience=resilience_table(sc, failures, availability, lost, failed),
        request_recorder=rrec if services else None,
        jobs_file=jobs_file,
        job_histograms=None if agg is None else histograms_frame(agg),
        kv_cache=kv_cache_frame(services.iteration.series) if services.iteration.series is not None else None,
    )
    if jobs_file is not None:  # record: stream: the Parquet file lives as long as the Result
        recorder.writer.keep_until(result)  # type: ignore[attr-defined]  # record: stream: the recorder is a ChunkedRecorder with a writer
    return result

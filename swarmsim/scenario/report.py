"""``report``: figures the summary adds on request (docs/scenarios.md).

``report: {figures: [job_wait_p80_s, "job_wait<=20s", "request_ttft_p999_s[region=eu-west]"]}``
adds each named service-level figure (:mod:`swarmsim.levels`) to the run's summary under its
canonical key. Without a ``report`` section nothing is added, and the resolved scenario
(``scenario.yaml``, the digest) is what it was before the section existed.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from swarmsim.levels import LevelError, parse_level
from swarmsim.scenario.common import Spec
from swarmsim.scenario.services import InferenceWorkloadSpec
from swarmsim.scenario.workloads import JobsWorkloadSpec, WorkloadSpec


class ReportSpec(Spec):
    """What the summary adds to the headline figures."""

    figures: list[str] = Field(default_factory=list, description=(
        "service-level figures added to summary.json: job_wait_p80_s, job_wait<=20s, "
        "request_ttft_p999_s[region=eu-west] (docs/metrics.md)"))

    @field_validator("figures")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        problems = []
        for i, text in enumerate(value):
            try:
                parse_level(text)
            except LevelError as err:
                problems.append(f"[{i}] {err}")
        if problems:
            raise ValueError("; ".join(problems))
        return [parse_level(t).key for t in value]


def check_level_names(text: str, workloads: dict[str, WorkloadSpec], regions: list[str]) -> str | None:
    """What is wrong with the selector of a service-level figure against a scenario's workloads
    and regions (None when nothing is): the workload must exist and be of the figure's kind, the
    region must exist."""
    level = parse_level(text)
    jobs = [n for n, w in workloads.items() if isinstance(w, JobsWorkloadSpec)]
    services = [n for n, w in workloads.items() if isinstance(w, InferenceWorkloadSpec)]
    mine = jobs if level.kind == "jobs" else services
    what = "jobs" if level.kind == "jobs" else "inference"
    if not mine:
        return f"{level.key}: the scenario has no {what} workload"
    if level.workload is not None and level.workload not in mine:
        return f"{level.key}: no {what} workload {level.workload!r} (the scenario's: {', '.join(mine)})"
    if level.region is not None and level.region not in regions:
        return f"{level.key}: no region {level.region!r} (the scenario's: {', '.join(regions)})"
    return None

"""Capacity planning: the cheapest fleet, region by region, that meets the SLOs within the law.

``swarmsim.plan`` (re-exported from here) sizes each region with queueing theory
(``analytic.py``: offered load, Erlang C / M/G/c waits, RTT, residency), then checks and refines
candidates by simulation on common seeds (``search.py``, reusing :func:`swarmsim.sweep` and its
resumable run folders); ``plots.py`` draws cost against the SLOs and the chosen fleet.
docs/planning.md describes the model, its assumptions and the search.
"""

from swarmsim.planning.search import PlanResult, Slo, parse_slo, plan

__all__ = ["PlanResult", "Slo", "parse_slo", "plan"]

"""``Result.plot``: the run's figures inline in a notebook, by name, from the plot functions of
this package (each returns a matplotlib ``Axes``; pass ``ax=`` to draw into your own)."""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes

from swarmsim.plots.base import RunFrames


class RunPlots:
    """The figures of one run (``res.plot.capacity()``, ...); times in hours, money in USD."""

    def __init__(self, result: RunFrames) -> None:
        self.result = result

    def capacity(self, region: str | None = None, ax: Axes | None = None) -> Axes:
        """Provisioned and busy GPUs against demand over time (one region, or all summed)."""
        from swarmsim.plots.run import plot_capacity

        return plot_capacity(self.result.timeseries, region=region, ax=ax, warmup_s=self.result.scenario.warmup)

    def cost(self, ax: Axes | None = None) -> Axes:
        """Cost of the measurement window by region and by GPU type (USD)."""
        from swarmsim.plots.run import plot_cost

        return plot_cost(self.result.breakdown, ax=ax)

    def waits(self, by: str = "region", ax: Axes | None = None) -> Axes:
        """CDF of job waits (minutes) per region (or per ``by`` column of ``jobs``)."""
        from swarmsim.plots.run import plot_wait_cdf

        return plot_wait_cdf(self.result.jobs, by=by, ax=ax, warmup_s=self.result.scenario.warmup)

    def latency(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """CDF of request latency (s) per user region, with the services' latency SLOs."""
        from swarmsim.plots.run import plot_latency_cdf

        return plot_latency_cdf(self.result, ax=ax, **kwargs)

    def slo(self, ax: Axes | None = None) -> Axes:
        """SLO attainment by hour of day (UTC) per user region."""
        from swarmsim.plots.run import plot_slo_over_day

        return plot_slo_over_day(self.result.request_timeseries, ax=ax)

    def failures(self, ax: Axes | None = None) -> Axes:
        """Ready GPUs per region with node failures and region outages marked."""
        from swarmsim.plots.run import plot_failures_timeline

        return plot_failures_timeline(self.result.timeseries, self.result.failures, ax=ax,
                                      warmup_s=self.result.scenario.warmup)

    def map(self, ax: Axes | None = None) -> Axes:
        """The world map: regions over real coastlines, sized by GPUs, with the traffic between them."""
        from swarmsim.plots.world_map import plot_world_map

        return plot_world_map(self.result, ax=ax)


__all__ = ["RunPlots"]

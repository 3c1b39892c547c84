"""KV-cache occupancy over time, per replica (``replica.kv_series: true``; docs/serving.md,
"KV occupancy over time").

One row per replica with a KV bound, per sampling interval ``(t - sample_every, t]`` of the
statistics window in which it served, written to ``kv_cache.csv``:

- ``seconds``: s the replica served in the interval (less than ``sample_every`` in the interval
  it started or stopped in);
- ``kv_tokens``: the time-mean of the KV tokens it held over those seconds (the same integral
  the summary's ``kv_cache_utilization`` is made of, cut at the sample times);
- ``kv_tokens_peak``: the most it held at an iteration boundary in the interval, or at the
  interval's ends;
- ``kv_capacity``: its KV capacity, tokens.

So ``sum(kv_tokens x seconds) / sum(kv_capacity x seconds)`` over the rows of the services that
set it is their ``kv_cache_utilization``. A replica that stops between two samples gets its
last row at the next sample. Size: at most (window / ``sample_every`` + 1) rows per replica that
ever served, that is samples x replicas, about 60 bytes each.
"""

from __future__ import annotations

from array import array

from swarmsim.world.sites import Replica

#: Columns of ``kv_cache.csv``.
COLUMNS = ("time_s", "service", "region", "replica", "node_type", "seconds", "kv_tokens", "kv_tokens_peak",
           "kv_capacity")


class KvSeries:
    """The rows of ``kv_cache.csv`` as the run goes, in columnar buffers (see the module docstring;
    :func:`swarmsim.metrics.frames.kv_cache_frame` makes the table)."""

    def __init__(self, warmup: float) -> None:
        self.warmup = warmup  # s, start of the statistics window
        self._mark: dict[int, tuple[float, float]] = {}  # replica id: (s, kv_area) at its last row
        self._gone: list[tuple[Replica, float, float, int, float]] = []  # stopped: (replica, s, area, peak, cap)
        self.time = array("d")
        self.service: list[str] = []
        self.region: list[str] = []
        self.replica = array("q")
        self.node_type: list[str] = []
        self.seconds = array("d")
        self.kv_tokens = array("d")
        self.peak = array("q")
        self.capacity = array("d")

    def _span(self, replica: Replica, now: float) -> tuple[float, float]:
        """(s served in the window since the last row, KV token-s held in them)."""
        engine = replica.engine
        start, area = self._mark.get(replica.id, (replica.born, 0.0))
        self._mark[replica.id] = (now, engine.kv_area)  # type: ignore[union-attr]  # replicas of an iteration service run an engine
        return max(0.0, now - max(start, self.warmup)), engine.kv_area - area  # type: ignore[union-attr]  # replicas of an iteration service run an engine

    def retire(self, replica: Replica, now: float) -> None:
        """A replica stops (its engine settled at ``now``): keep its last span for the next sample."""
        seconds, area = self._span(replica, now)
        peak = replica.engine.mark_peak(now)  # type: ignore[union-attr]  # replicas of an iteration service run an engine
        del self._mark[replica.id]
        if seconds > 0:
            self._gone.append((replica, seconds, area, peak, replica.engine.cap))  # type: ignore[union-attr]  # replicas of an iteration service run an engine

    def sample(self, now: float, replicas: list[Replica]) -> None:
        """Close the interval ending at ``now``: a row per replica that served in it (``replicas``:
        those of the services that keep the series, with an engine)."""
        rows = [(r, *self._span(r, now), r.engine.mark_peak(now), r.engine.cap)  # type: ignore[union-attr]  # replicas of an iteration service run an engine
                for r in replicas]
        gone, self._gone = self._gone, []
        for replica, seconds, area, peak, cap in sorted([*gone, *rows], key=lambda x: x[0].id):
            if seconds <= 0:
                continue
            site = replica.site
            self.time.append(now)
            self.service.append(site.service.name)
            self.region.append(site.region.name)
            self.replica.append(replica.id)
            self.node_type.append(replica.node.pool.ntype.name)
            self.seconds.append(seconds)
            self.kv_tokens.append(area / seconds)
            self.peak.append(peak)
            self.capacity.append(cap)


__all__ = ["COLUMNS", "KvSeries"]

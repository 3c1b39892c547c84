"""What the plot modules share: a fresh axes when none is given, the order of a frame's
categories, and :class:`RunFrames`, what a plot of one run reads of it (a
:class:`~swarmsim.result.Result`, or frames loaded from a run folder)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from swarmsim.metrics.requests import RequestRecorder
    from swarmsim.scenario import Scenario


class RunFrames(Protocol):
    """The frames of one run that the run plots read (``Result`` has them): the resolved
    scenario, the headline ``summary`` and the public frames of contract §6 (the report reads
    ``actions`` and ``billing`` too); ``request_recorder``
    holds the request histograms (None for frames read back from CSVs)."""

    scenario: Scenario
    summary: dict[str, Any]
    jobs: pd.DataFrame
    timeseries: pd.DataFrame
    actions: pd.DataFrame
    billing: pd.DataFrame
    breakdown: pd.DataFrame
    requests: pd.DataFrame
    request_timeseries: pd.DataFrame
    failures: pd.DataFrame
    request_recorder: RequestRecorder | None


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **subplots: Any) -> tuple[Figure, Any]:
    """A figure of ``figsize`` inches outside pyplot, on its own Agg canvas, and its axes
    (``Figure.subplots``). Files are drawn on these: saving them neither registers a pyplot figure
    nor touches the backend a notebook chose, so its inline plots keep working."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **subplots)


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    return ax


def _in_order(column: pd.Series) -> list[Any]:
    """The distinct values of a column: in category order for a categorical (scenario order in a
    fresh frame), else in order of first appearance (a frame read from CSV)."""
    present = pd.unique(column.dropna())
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [c for c in column.cat.categories if c in set(present)]
    return list(present)


__all__ = ["RunFrames"]

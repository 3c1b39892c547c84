"""The interactive HTML report (``report.html``) of a run, a sweep or a plan folder.

:func:`write_report` finds which kind of folder it is given (:func:`~swarmsim.report.folder.folder_kind`)
and writes ``report.html`` into it, atomically (written beside it, then renamed). The page is one
self-contained file: the plotly.js bundle and every figure's data are inside it, and it needs no
network (docs/report.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from swarmsim.atomic import write_atomic
from swarmsim.report.folder import folder_kind
from swarmsim.report.html import REPORT_FILE


def write_report(folder: str | os.PathLike[str]) -> Path:
    """Write ``report.html`` into a run, sweep or plan folder and return its path.

    Raises:
        ScenarioError: the folder is none of those, or one of its files cannot be read.
    """
    path = Path(folder)
    kind = folder_kind(path)
    if kind == "run":
        from swarmsim.report.run import run_report
        from swarmsim.result import Result

        return run_report(Result.load(path), path)
    if kind == "sweep":
        from swarmsim.report.sweep import sweep_page

        return write_atomic(path / REPORT_FILE, sweep_page(path))
    from swarmsim.report.plan import plan_page

    return write_atomic(path / REPORT_FILE, plan_page(path))


__all__ = ["REPORT_FILE", "write_report"]

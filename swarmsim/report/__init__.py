"""The interactive HTML report (``report.html``) of a run, a sweep or a plan folder.

:func:`write_report` finds which kind of folder it is given (:func:`~swarmsim.report.folder.folder_kind`)
and writes ``report.html`` into it, atomically (written beside it, then renamed). The page is one
self-contained file: the plotly.js bundle and every figure's data are inside it, and it needs no
network (docs/report.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from swarmsim.report.folder import folder_kind

REPORT_FILE = "report.html"


def write_html(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary sibling renamed into place)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")  # open() keeps the umask's file mode
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def run_report(result: Any, folder: str | os.PathLike[str]) -> Path:
    """Write the report of a run (a ``Result``, or frames read from a run folder) into ``folder``."""
    from swarmsim.report.run import run_page

    return write_html(Path(folder) / REPORT_FILE, run_page(result))


def write_report(folder: str | os.PathLike[str]) -> Path:
    """Write ``report.html`` into a run, sweep or plan folder and return its path.

    Raises:
        ScenarioError: the folder is none of those, or one of its files cannot be read.
    """
    path = Path(folder)
    kind = folder_kind(path)
    if kind == "run":
        from swarmsim.report.folder import read_run

        return run_report(read_run(path), path)
    if kind == "sweep":
        from swarmsim.report.sweep import sweep_page

        return write_html(path / REPORT_FILE, sweep_page(path))
    from swarmsim.report.plan import plan_page

    return write_html(path / REPORT_FILE, plan_page(path))


__all__ = ["REPORT_FILE", "run_report", "write_report"]

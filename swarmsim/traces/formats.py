"""The table of trace formats, complete: importing this module imports every reader module of
the package, each of which registers its formats in :data:`swarmsim.traces.FORMATS`."""

from __future__ import annotations

import importlib
import pkgutil

import swarmsim.traces as _traces
from swarmsim.traces import FORMATS, TraceFormat

for _module in pkgutil.iter_modules(_traces.__path__):
    if _module.name != "formats":
        importlib.import_module(f"swarmsim.traces.{_module.name}")

__all__ = ["FORMATS", "TraceFormat"]

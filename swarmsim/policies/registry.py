"""The one read-only table of built-in policies, and the loader of a user's class.

A scenario names a user's class (``kind: custom``) as ``class: package.module:Class`` (an
importable module) or ``class: path/to/file.py:Class`` (a file, relative to the scenario file's
folder); from Python, ``class`` may be the class object itself (:func:`class_name`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from swarmsim.policies.geographic import ExpandOnLatency, FollowTheSun, ResidencyFirst
from swarmsim.policies.horizontal import Predictive, QueueScaler, TargetTracking, Threshold
from swarmsim.policies.replicas import ServeAutoscaler
from swarmsim.policies.schedule import Schedule
from swarmsim.policies.static import Static
from swarmsim.policies.vertical import Recommender, UpgradeOnDemand
from swarmsim.scenario.common import did_you_mean

#: (kind, strategy) -> policy class. docs/policies.md documents each with its defaults.
BUILTIN = MappingProxyType({
    ("static", None): Static,
    ("horizontal", "threshold"): Threshold,
    ("horizontal", "target-tracking"): TargetTracking,
    ("horizontal", "queue"): QueueScaler,
    ("horizontal", "predictive"): Predictive,
    ("horizontal", "serve"): ServeAutoscaler,
    ("horizontal", "schedule"): Schedule,
    ("vertical", "upgrade-on-demand"): UpgradeOnDemand,
    ("vertical", "recommender"): Recommender,
    ("geographic", "expand-on-latency"): ExpandOnLatency,
    ("geographic", "follow-the-sun"): FollowTheSun,
    ("geographic", "residency-first"): ResidencyFirst,
})


def strategies(kind: str) -> list[str]:
    """Built-in strategy names of one kind."""
    return [s for k, s in BUILTIN if k == kind and s is not None]


def resolve(kind: str, strategy: str | None, class_path: str | None, folder: str | None = None) -> type:
    """The policy class a scenario names; ``folder`` is where a relative ``file.py`` path starts
    (the scenario file's folder; None: the working directory). Raises ``ValueError`` with the
    choices."""
    if kind == "custom":
        if not class_path:
            raise ValueError("a custom policy needs class: module:Class or class: path/to/file.py:Class")
        return load_class(class_path, folder)
    if kind == "static":
        return BUILTIN[("static", None)]
    if strategy is None:
        raise ValueError(f"a {kind} policy needs a strategy: one of {', '.join(strategies(kind))}")
    try:
        return BUILTIN[(kind, strategy)]
    except KeyError:
        raise ValueError(
            f"unknown {kind} strategy {strategy!r}; built-in: {', '.join(strategies(kind))}"
        ) from None


#: Classes handed over from Python (``class: MyPolicy`` in a dict, or an override), by the name
#: :func:`class_name` gave them: a scenario is data, so it holds the name, and the name finds the
#: class again after the scenario is dumped and validated anew (an override, a sweep's grid
#: point, a forked worker). A name given again points to the newest class.
_GIVEN: dict[str, type] = {}

#: Modules loaded from ``.py`` files: resolved path -> (modification time in ns, module).
_FILES: dict[Path, tuple[int, ModuleType]] = {}


def class_name(cls: type) -> str:
    """The ``module:QualifiedName`` a scenario records for a class object, which
    :func:`load_class` then returns (in this process, and in workers forked from it)."""
    name = f"{cls.__module__}:{cls.__qualname__}"
    _GIVEN[name] = cls
    return name


def load_class(path: str, folder: str | None = None) -> type:
    """The class ``path`` names: ``package.module:Class`` (imported) or ``file.py:Class`` (that
    file, relative to ``folder`` unless absolute, loaded once and again when it changes).
    ``Class`` may be dotted (``Outer.Inner``). Raises ``ValueError`` saying what is wrong."""
    if path in _GIVEN:
        return _GIVEN[path]
    where, sep, attr = path.rpartition(":")
    if not sep or not where or not attr:
        raise ValueError(f"expected module:Class or path/to/file.py:Class, got {path!r}")
    if where.endswith(".py"):
        module = _load_file(where, folder)
        shown = f"file {where!r}"
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as err:
            raise ValueError(f"cannot import {where!r}: {err}") from None
        except Exception as err:  # the module itself fails: say so, not a traceback
            raise ValueError(f"cannot import {where!r}: {type(err).__name__}: {err}") from None
        shown = f"module {where!r}"
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            classes = [n for n, v in vars(module).items()
                       if isinstance(v, type) and getattr(v, "__module__", None) == module.__name__]
            hint = did_you_mean(part, classes) or (f"; its classes: {', '.join(classes)}" if classes else "")
            raise ValueError(f"{shown} has no {attr!r}{hint}")
        target = getattr(target, part)
    if not isinstance(target, type):
        raise ValueError(f"{path!r} is not a class (it is a {type(target).__name__})")
    return target


def _load_file(where: str, folder: str | None) -> ModuleType:
    """The module of a ``.py`` file; relative paths start at ``folder`` (else the working
    directory). Registered in ``sys.modules`` under a name made from the file's path, so its
    classes pickle and its source can be read (``check_policy``)."""
    file = Path(where).expanduser()
    if not file.is_absolute():
        file = Path(folder or ".") / file
    file = file.resolve()
    relative = f" (relative to {folder})" if folder and not Path(where).is_absolute() else ""
    try:
        mtime = file.stat().st_mtime_ns
    except FileNotFoundError:
        raise ValueError(f"no such file {where!r}{relative}") from None
    except OSError as err:
        raise ValueError(f"cannot read {where!r}: {err}") from None
    cached = _FILES.get(file)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:8]
    name = f"swarmsim_user_{file.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load {where!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # a syntax error or a failing import in the user's file
        if cached is not None:
            sys.modules[name] = cached[1]  # the last version that loaded stays the module
        else:
            del sys.modules[name]
        line = f" (line {err.lineno})" if isinstance(err, SyntaxError) and err.lineno else ""
        raise ValueError(f"cannot load {where!r}: {type(err).__name__}: {err}{line}") from None
    _FILES[file] = (mtime, module)
    return module

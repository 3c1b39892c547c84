"""The policy protocol, and ``check_policy``: a conformance check any policy class can run.

A policy is a class with a pydantic ``Params`` (every field defaulted), a ``default_interval_s``
(s), a constructor ``(params, *, rng)`` that only stores, and ``decide(view) -> list[Action]``, a
pure function of the view and the policy's own history. The base class
:class:`~swarmsim.policies.base.Policy` is the short way to write one; a plain class with the same
four parts works as well. A policy never imports SimPy and never touches the world: delays,
supply limits, budgets and billing are the world's job. A scenario names a user's class as
``kind: custom, class: module:Class`` or ``class: path/to/file.py:Class``
(:mod:`swarmsim.policies.registry`).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
import sys
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from swarmsim.policies.actions import (
    AddNodes,
    AddReplicas,
    CloseRegion,
    OpenRegion,
    RemoveNodes,
    RemoveReplicas,
    ResizeNodes,
)
from swarmsim.policies.testing import example_views
from swarmsim.policies.views import ClusterView, RegionView

ACTION_TYPES = (AddNodes, RemoveNodes, ResizeNodes, OpenRegion, CloseRegion, AddReplicas, RemoveReplicas)

#: What a policy may list in its optional ``reads``: the fields of a region's view it reads.
#: ``RegionView.supply_left`` reads ``max_nodes`` and ``nodes``; ``utilization`` reads
#: ``gpus_busy`` and ``gpus_ready``. ``name`` is always there.
SIGNALS = frozenset(RegionView._fields)

#: Modules a policy must not import: it decides on views; the world, in SimPy, acts.
FORBIDDEN_IMPORTS = ("simpy",)


class PolicyError(Exception):
    """A class does not behave as a swarmsim policy; ``str()`` names the class and the rule."""


def declared_reads(cls: type) -> frozenset[str] | None:
    """The region fields a policy class declares it reads (``reads``), or None when it declares
    nothing (it may read anything). Raises ``ValueError`` for a name that is not a field."""
    reads = getattr(cls, "reads", None)
    if reads is None:
        return None
    unknown = sorted(set(reads) - SIGNALS)
    if unknown or isinstance(reads, str):
        raise ValueError(f"{cls.__name__}.reads names {unknown or reads!r}, not fields of RegionView "
                         f"({', '.join(RegionView._fields)})")
    return frozenset(reads) | {"name"}


class _ReadOutsideDeclaredError(PolicyError):
    """Raised inside ``decide`` by a restricted view (neither a ``KeyError`` nor an
    ``AttributeError``, so a policy's own narrow ``except`` does not swallow it)."""


def _strict(view: ClusterView, allowed: frozenset[str], owner: str) -> ClusterView:
    """``view`` with region views that fail on a read of a field outside ``allowed``."""
    def get(self: RegionView, name: str) -> object:
        if name in SIGNALS and name not in allowed:
            raise _ReadOutsideDeclaredError(f"{owner}.decide reads RegionView.{name}, not in {owner}.reads")
        return tuple.__getattribute__(self, name)

    strict = type("RegionView", (RegionView,), {"__slots__": (), "__getattribute__": get})
    regions = {name: strict(*r) for name, r in view.regions.items()}
    return dataclasses.replace(view, regions=regions)


def forbidden_imports(source: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of SimPy in Python ``source``: ``import``
    and ``from ... import`` statements anywhere (functions and ``TYPE_CHECKING`` blocks included)
    and ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name. Names in
    strings, comments and docstrings are not imports."""
    found: list[tuple[int, str]] = []

    def bad(name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in FORBIDDEN_IMPORTS)

    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        hits = [n for n in names if bad(n)]
        if hits:
            found.append((getattr(node, "lineno", 0), hits[0]))
    return found


def check_policy(cls: type, params: dict[str, Any] | None = None) -> None:
    """Raise :class:`PolicyError` unless ``cls`` behaves as a swarmsim policy.

    Checks, in this order: ``cls`` is a class with a pydantic ``Params`` whose defaults (or
    ``params``) validate; a positive ``default_interval_s`` (s); a constructor that takes ``rng``
    as a keyword-only argument; a module that imports neither SimPy nor the world
    (:func:`forbidden_imports`, read from its source when the source can be read); a ``decide``
    that, on every example view (:func:`~swarmsim.policies.testing.example_views`), returns a
    list of actions that name regions, node types and services of the view with positive counts,
    leaves the view unchanged, and decides the same for the same random seed. A class that
    declares ``reads`` must read no other field of a region's view (each view is checked once
    more with regions that fail on any other field). Plain ``if``/``raise``, so ``python -O``
    checks as much.
    """
    if not isinstance(cls, type):
        raise PolicyError(f"expected a policy class, got {cls!r}")
    name = cls.__name__
    model = getattr(cls, "Params", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise PolicyError(f"{name}.Params must be a pydantic model (subclass PolicyParams), got {model!r}")
    interval = getattr(cls, "default_interval_s", None)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval < float("inf"):
        raise PolicyError(f"{name}.default_interval_s must be a positive number of seconds, got {interval!r}")
    try:
        p = model.model_validate(params or {})
    except ValidationError as err:
        what = "the parameters given" if params else "the defaults (every parameter needs a default)"
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}"
                             for e in err.errors(include_url=False))
        raise PolicyError(f"{name}.Params does not validate {what}: {problems}") from None
    init = inspect.signature(cls).parameters  # of __init__, without self
    if "rng" not in init or init["rng"].kind is not inspect.Parameter.KEYWORD_ONLY:
        raise PolicyError(f"{name}.__init__ must take rng as a keyword-only argument: "
                          f"def __init__(self, params, *, rng)")
    if not callable(getattr(cls, "decide", None)):
        raise PolicyError(f"{name} has no decide(view) method")
    source = _source(cls)
    for line, module in forbidden_imports(source) if source is not None else []:
        raise PolicyError(f"{cls.__module__} imports {module} (line {line}); policies decide on views only")
    for seed in range(2):
        outputs = [_decisions(cls, p, seed, name) for _ in range(2)]
        if outputs[0] != outputs[1]:
            raise PolicyError(f"{name}.decide is not reproducible for one seed: two policies built with "
                              f"rng seed {seed} decided {outputs[0]!r} and {outputs[1]!r}")
    try:
        reads = declared_reads(cls)
    except ValueError as err:
        raise PolicyError(str(err)) from None
    if reads is not None:
        plain, checked = cls(p, rng=np.random.default_rng(0)), cls(p, rng=np.random.default_rng(0))
        for view in example_views():
            try:
                restricted = checked.decide(_strict(view, reads, name))
            except _ReadOutsideDeclaredError as err:
                raise PolicyError(str(err)) from None
            if plain.decide(view) != restricted:
                raise PolicyError(f"{name}.decide differs on a view restricted to its reads")


def _source(cls: type) -> str | None:
    """The source of the module that defines ``cls`` (or of the class alone), None if unreadable
    (a class typed at a prompt)."""
    module = sys.modules.get(cls.__module__)
    for target in (module, cls):
        if target is None:
            continue
        try:
            return inspect.getsource(target)
        except (OSError, TypeError):
            continue
    return None


def _decisions(cls: type, params: BaseModel, seed: int, name: str) -> list[list[Any]]:
    """What a new policy (rng seeded ``seed``) decides on each example view, checked."""
    policy = cls(params, rng=np.random.default_rng(seed))
    out = []
    for i, view in enumerate(example_views()):
        before = copy.deepcopy(view)
        try:
            actions = policy.decide(view)
        except Exception as err:
            raise PolicyError(f"{name}.decide raised {type(err).__name__}: {err} (example view {i}, "
                              f"swarmsim.policies.testing.example_views())") from err
        if not isinstance(actions, list):
            raise PolicyError(f"{name}.decide must return a list of actions, got {type(actions).__name__}")
        for a in actions:
            problem = _action_problem(a, view)
            if problem:
                raise PolicyError(f"{name}.decide returned {a!r}: {problem} (example view {i})")
        if view != before and repr(view) != repr(before):  # repr: NaN fields are never ==
            raise PolicyError(f"{name}.decide changed the view it was given (example view {i})")
        out.append(actions)
    return out


def _action_problem(action: Any, view: ClusterView) -> str:
    """What is wrong with one returned action on ``view``, or ``""``."""
    if not isinstance(action, ACTION_TYPES):
        return f"not an action (one of {', '.join(t.__name__ for t in ACTION_TYPES)})"
    if action.region not in view.regions:
        return f"unknown region {action.region!r}"
    if isinstance(action, AddReplicas | RemoveReplicas) and action.service not in view.services:
        return f"unknown service {action.service!r}"
    if isinstance(action, AddNodes | RemoveNodes | ResizeNodes) and action.node_type not in view.node_types:
        return f"unknown node type {action.node_type!r}"
    count = getattr(action, "count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        return f"count must be a positive int, got {count!r}"
    if isinstance(action, ResizeNodes) and action.gpus is None and action.to_type is None:
        return "a resize must change something: give gpus or to_type"
    return ""

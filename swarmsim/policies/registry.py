"""The one read-only table of built-in policies, and the loader of a user's ``module:Class``."""

from __future__ import annotations

import importlib
from types import MappingProxyType

from swarmsim.policies.geographic import ExpandOnLatency, FollowTheSun, ResidencyFirst
from swarmsim.policies.horizontal import Predictive, QueueScaler, TargetTracking, Threshold
from swarmsim.policies.replicas import ServeAutoscaler
from swarmsim.policies.schedule import Schedule
from swarmsim.policies.static import Static
from swarmsim.policies.vertical import Recommender, UpgradeOnDemand

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


def resolve(kind: str, strategy: str | None, class_path: str | None) -> type:
    """The policy class a scenario names. Raises ``ValueError`` with the choices."""
    if kind == "custom":
        if not class_path:
            raise ValueError("a custom policy needs class: module:Class")
        return load_class(class_path)
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


def load_class(path: str) -> type:
    """Import ``package.module:ClassName``."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected module:Class, got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import {module_name!r}: {err}") from None
    try:
        cls = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no {attr!r}") from None
    if not isinstance(cls, type):
        raise ValueError(f"{path!r} is not a class")
    return cls

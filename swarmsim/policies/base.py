"""The optional base class of a policy, and of its parameters.

A policy is any class that follows the protocol of :mod:`swarmsim.policies.protocol`; this base
class is the short way to follow it::

    from swarmsim.policies import AddNodes, Policy, PolicyParams, View

    class SpotFirst(Policy):
        '''Prefer the cheap node type until it holds max_share of a region's GPUs.'''

        class Params(PolicyParams):
            max_share: float = 0.3        # share of a region's GPUs, 0..1

        default_interval_s = 60.0

        def reset(self) -> None:          # optional: the policy's own history
            self.last_add_s: dict[str, float] = {}

        def decide(self, view: View) -> list[Action]:
            ...

It stores ``params`` (validated once, by the class's ``Params``) and ``rng``, and calls
:meth:`Policy.reset` for the policy's own state; nothing else happens in the constructor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from swarmsim.policies.actions import Action
from swarmsim.policies.views import ClusterView


class PolicyParams(BaseModel):
    """Base of a policy's parameters: unknown names are errors (a typo is never ignored), the
    values cannot change after validation, and every field should have a default (the scenario
    may give none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)


class Policy(Generic[P]):
    """Holds ``params`` (an instance of the class's ``Params``) and ``rng``; subclasses write
    :meth:`decide` and, for state of their own, :meth:`reset`.

    Args:
        params: the parameters: a ``Params`` instance (kept as given: the world passes the one
            it validated when the scenario loaded), a mapping of them (validated here), or
            ``None`` for the defaults.
        rng: the policy's own random stream (the world passes one per policy, derived from the
            scenario's seed); default ``numpy.random.default_rng(0)``, for unit tests.

    Raises:
        PolicyParamsError: ``params`` do not validate; the message names the class and each
            bad parameter.

    ``Params`` defaults to :class:`PolicyParams` (no parameters); ``default_interval_s`` (s
    between two decisions unless the scenario gives ``interval``) to 60; ``reads`` (the region
    fields :meth:`decide` reads, docs/policies.md) to ``None``, meaning any.
    """

    Params: type[BaseModel] = PolicyParams
    default_interval_s: ClassVar[float] = 60.0
    reads: ClassVar[frozenset[str] | None] = None

    params: P
    rng: np.random.Generator

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        params = cls.__dict__.get("Params", PolicyParams)
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise TypeError(f"{cls.__qualname__}.Params must be a pydantic model (a PolicyParams "
                            f"subclass), got {params!r}")

    def __init__(self, params: P | Mapping[str, Any] | None = None, *,
                 rng: np.random.Generator | None = None) -> None:
        model = type(self).Params
        if isinstance(params, model):
            self.params = params
        else:
            try:
                self.params = model.model_validate(dict(params or {}))  # type: ignore[assignment]  # model is the class's Params, whose instance is a P
            except ValidationError as err:
                raise PolicyParamsError(type(self).__name__, err) from None
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.reset()

    def reset(self) -> None:
        """Set up the policy's own state (history, cooldown clocks): called once by the
        constructor, and again to forget everything. The base class keeps none."""

    def decide(self, view: ClusterView) -> list[Action]:
        """The actions to take now, given ``view`` (a read-only snapshot at ``view.time_s``).

        Must not change the view; the world applies the actions after this returns."""
        raise NotImplementedError(f"{type(self).__name__} must define decide(view)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


class PolicyParamsError(ValueError):
    """A policy's parameters do not validate; ``str()`` names the class and every bad field."""

    def __init__(self, owner: str, err: ValidationError) -> None:
        lines = []
        for e in err.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"]) or "params"
            message = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                message = "unknown parameter"
            lines.append(f"{owner}.Params.{where}: {message}")
        super().__init__("; ".join(lines))

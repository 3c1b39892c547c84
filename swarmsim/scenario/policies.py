"""``policies`` and ``limits``: the scaling policies (built-in or a user's class, each validated
by its class's own ``Params`` in :mod:`swarmsim.scenario.checks`) and the bounds the world
enforces whatever they ask."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from swarmsim.scenario.common import PositiveDuration, Spec


class PolicySpec(Spec):
    """One scaling policy: a built-in (``kind`` + ``strategy``) or a user's class.

    Parameters may be given inline (``target_utilization: 0.7``) or under ``params``; they are
    validated by the policy class's own ``Params`` model, and the resolved scenario holds them
    all, defaults included, under ``params``."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    kind: Literal["static", "horizontal", "vertical", "geographic", "custom"]
    strategy: str | None = None
    class_path: str | None = Field(None, alias="class", description=(
        "for kind: custom, module:Class (importable) or path/to/file.py:Class (relative to the "
        "scenario file); from Python also the class object"))
    interval: PositiveDuration | None = Field(None, description="s between decisions; default per policy")
    params: dict[str, Any] = Field(default_factory=dict)

    #: The folder a relative ``file.py`` class path starts from: the scenario file's, set by the
    #: scenario's checks (:func:`swarmsim.scenario.checks.check_policies`); None: the working directory.
    _folder: str | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _class_object(cls, data: Any) -> Any:
        """A class object given from Python becomes the name the scenario records (and finds it by)."""
        if isinstance(data, dict):
            for key in ("class", "class_path"):
                if isinstance(data.get(key), type):
                    from swarmsim.policies.registry import class_name

                    data = {**data, key: class_name(data[key])}
        return data

    def policy_class(self) -> type[Any]:
        """The class this spec names (built-in table, ``module:Class``, ``file.py:Class``); a user's
        class is duck-typed (checked by ``check_policy``), hence ``type[Any]``."""
        from swarmsim.policies.registry import resolve

        return resolve(self.kind, self.strategy, self.class_path, self._folder)

    def interval_s(self) -> float:
        """Seconds between two decisions of this policy."""
        return self.interval if self.interval is not None else float(self.policy_class().default_interval_s)


class PoolLimitSpec(Spec):
    """Bounds on the nodes of one type in one region that the world enforces on every action."""

    min: int = Field(0, ge=0)
    max: int | None = Field(None, ge=0)


class LimitsSpec(Spec):
    """Limits the world enforces whatever the policies ask."""

    budget_usd_per_hour: float | None = Field(
        None, gt=0, description="cap on the billed rate, USD/h; adds and resizes beyond it are refused"
    )
    pools: dict[str, dict[str, PoolLimitSpec]] = Field(
        default_factory=dict, description="region -> node type -> {min, max} nodes"
    )

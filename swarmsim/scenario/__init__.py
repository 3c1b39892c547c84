"""The validated, frozen scenario model and :func:`load_scenario`.

A scenario file (YAML) or dict becomes a :class:`Scenario` in which every quantity is in base
units (seconds, per second, bytes, bit/s, USD) and every default is resolved: region
coordinates, jurisdictions and UTC offsets from the built-in catalog, node prices from the GPU
catalog. Nothing downstream reads raw YAML or guesses a default.

One module per section of the file, each with its models and defaults: :mod:`.regions`
(``regions``, ``network``), :mod:`.nodes` (``node_types``, ``fleet``), :mod:`.arrivals`
(arrival processes, ``trace``), :mod:`.workloads` (``kind: jobs``), :mod:`.services`
(``kind: inference``), :mod:`.scheduler`, :mod:`.policies` (``policies``, ``limits``),
:mod:`.failures`; :mod:`.common` holds what they share. :mod:`.model` is the root
:class:`Scenario` (top-level fields, derived facts, JSON Schema), :mod:`.checks` every
cross-field check, :mod:`.load` the loader (YAML, ``${VAR}``, ``--set``) and :mod:`.explain`
the readable validation errors. Every name below is importable from ``swarmsim.scenario``.
"""

from swarmsim.errors import ScenarioError
from swarmsim.scenario.arrivals import (
    ArrivalSpec,
    DeterministicArrivals,
    DiurnalArrivals,
    MmppArrivals,
    PoissonArrivals,
    RampArrivals,
    TraceSpec,
)
from swarmsim.scenario.common import (
    PROVIDERS,
    Name,
    NonNegativeDuration,
    NonNegativeRate,
    PositiveDuration,
    PositiveRate,
    Provider,
    Shares,
    Spec,
)
from swarmsim.scenario.failures import (
    PUBLISHED_FAILURES,
    REPAIR_SIGMA,
    ChurnSpec,
    FailuresSpec,
    NodeFailureSpec,
    OutageSpec,
    SpotSpec,
)
from swarmsim.scenario.load import load_scenario, parse_overrides
from swarmsim.scenario.model import Scenario, scenario_json_schema
from swarmsim.scenario.nodes import DEFAULT_PROVISION_TIME, NodeTypeSpec
from swarmsim.scenario.policies import LimitsSpec, PolicySpec, PoolLimitSpec
from swarmsim.scenario.record import RecordSpec
from swarmsim.scenario.regions import DEFAULT_ACCESS_LATENCY_S, Location, NetworkSpec, RegionSpec
from swarmsim.scenario.scheduler import SchedulerSpec
from swarmsim.scenario.services import DEFAULT_LOAD_TIME, InferenceWorkloadSpec, ReplicaSpec, SloSpec
from swarmsim.scenario.workloads import JobsWorkloadSpec, WorkloadSpec

__all__ = [
    "DEFAULT_ACCESS_LATENCY_S",
    "DEFAULT_LOAD_TIME",
    "DEFAULT_PROVISION_TIME",
    "PROVIDERS",
    "PUBLISHED_FAILURES",
    "REPAIR_SIGMA",
    "ArrivalSpec",
    "ChurnSpec",
    "DeterministicArrivals",
    "DiurnalArrivals",
    "FailuresSpec",
    "InferenceWorkloadSpec",
    "JobsWorkloadSpec",
    "LimitsSpec",
    "Location",
    "MmppArrivals",
    "Name",
    "NetworkSpec",
    "NodeFailureSpec",
    "NodeTypeSpec",
    "NonNegativeDuration",
    "NonNegativeRate",
    "OutageSpec",
    "PoissonArrivals",
    "PolicySpec",
    "PoolLimitSpec",
    "PositiveDuration",
    "PositiveRate",
    "Provider",
    "RampArrivals",
    "RecordSpec",
    "RegionSpec",
    "ReplicaSpec",
    "Scenario",
    "ScenarioError",
    "SchedulerSpec",
    "Shares",
    "SloSpec",
    "Spec",
    "SpotSpec",
    "TraceSpec",
    "WorkloadSpec",
    "load_scenario",
    "parse_overrides",
    "scenario_json_schema",
]

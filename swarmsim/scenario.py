"""The validated, frozen scenario model and :func:`load_scenario`.

A scenario file (YAML) or dict becomes a :class:`Scenario` in which every quantity is in base
units (seconds, per second, bytes, bit/s, USD) and every default is resolved: region
coordinates, jurisdictions and UTC offsets from the built-in catalog, node prices from the GPU
catalog. Nothing downstream reads raw YAML or guesses a default.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from swarmsim import catalog
from swarmsim.distributions import ConstantDist, DistOrValue, LognormalDist
from swarmsim.errors import ScenarioError
from swarmsim.units import Bandwidth, Duration, Rate

__all__ = [
    "JobsWorkloadSpec",
    "NetworkSpec",
    "NodeTypeSpec",
    "RegionSpec",
    "Scenario",
    "SchedulerSpec",
    "load_scenario",
    "parse_overrides",
]

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
PositiveDuration = Annotated[Duration, Field(gt=0)]
NonNegativeDuration = Annotated[Duration, Field(ge=0)]
PositiveRate = Annotated[Rate, Field(gt=0)]
NonNegativeRate = Annotated[Rate, Field(ge=0)]

#: Default access latency (user to site) of a core region and of an edge site, seconds.
#: Core: FCC Measuring Broadband America, terrestrial average 34.9 ms RTT to the nearest test
#: server, rounded down to 20 ms for metro users (contract default); edge: 5 ms (contract example).
DEFAULT_ACCESS_LATENCY_S = {"core": 0.020, "edge": 0.005}

#: Default node provisioning time: lognormal, median 3.5 min, p95 ≈ 8 min
#: (scaling-and-cloud-facts.md §6.1: sigma = ln(8 / 3.5) / 1.645 ≈ 0.5).
DEFAULT_PROVISION_TIME = {"dist": "lognormal", "median": 210.0, "sigma": 0.5}


class Spec(BaseModel):
    """Base of every scenario model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(Spec):
    """A point on Earth, degrees."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class RegionSpec(Spec):
    """A region or edge site that can hold nodes; users may also originate here."""

    location: Location
    jurisdiction: str = Field(min_length=1)
    utc_offset: float = Field(ge=-12, le=14, description="hours; drives diurnal demand")
    kind: Literal["core", "edge"] = "core"
    access_latency: NonNegativeDuration | None = Field(
        None, description="user -> site latency, s; default 20ms core, 5ms edge"
    )
    price_multiplier: float = Field(1.0, gt=0)
    max_nodes: int | None = Field(None, ge=0, description="supply that providers can offer here")
    active: bool = True
    site: str | None = Field(
        None, description="built-in catalog site used for measured RTTs (default: by name)"
    )

    @property
    def access_latency_s(self) -> float:
        """Access latency in seconds, with the core/edge default applied."""
        if self.access_latency is not None:
            return self.access_latency
        return DEFAULT_ACCESS_LATENCY_S[self.kind]


class NetworkSpec(Spec):
    """Latency and bandwidth between regions."""

    rtt: Literal["builtin", "distance"] = "builtin"
    route_factor: float = Field(1.5, ge=1.0, description="distance RTT = factor * 2d / 200 km/ms")
    rtt_overrides: dict[str, dict[str, NonNegativeDuration]] = Field(default_factory=dict)
    intra_region_rtt: NonNegativeDuration = Field(0.001, description="s, between sites of a region")
    bandwidth: Annotated[Bandwidth, Field(gt=0)] = 10e9
    egress_usd_per_gb: float = Field(0.02, ge=0, description="USD per decimal GB moved out")


class NodeTypeSpec(Spec):
    """A kind of node: GPU model and count, price, provisioning time."""

    gpu: str
    gpus: int = Field(ge=1)
    max_gpus: int | None = Field(None, ge=1, description="vertical scaling limit, GPUs")
    usd_per_gpu_hour: float | None = Field(None, ge=0, description="default: GPU catalog price")
    provision_time: DistOrValue = Field(default_factory=lambda: LognormalDist(**DEFAULT_PROVISION_TIME))
    provider: Literal[
        "datacenter", "gpu-cluster", "workstation", "gaming-pc", "individual", "edge"
    ] = "datacenter"

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, value: str) -> str:
        found = catalog.find_gpu(value)
        if found is None:
            known = ", ".join(catalog.gpu_types())
            raise ValueError(f"unknown GPU {value!r}; the built-in catalog has: {known}")
        return found.name

    @model_validator(mode="after")
    def _resolve(self) -> NodeTypeSpec:
        if self.max_gpus is not None and self.max_gpus < self.gpus:
            raise ValueError(f"max_gpus ({self.max_gpus}) is below gpus ({self.gpus})")
        if self.provision_time.lower() < 0:
            raise ValueError("provision_time: a duration cannot be negative")
        if self.usd_per_gpu_hour is None:
            price = catalog.find_gpu(self.gpu).usd_per_gpu_hour  # type: ignore[union-attr]
            object.__setattr__(self, "usd_per_gpu_hour", price)
        if self.max_gpus is None:
            object.__setattr__(self, "max_gpus", self.gpus)
        return self

    @property
    def speed(self) -> float:
        """Training speed of this node's GPU relative to the reference GPU (A100-80GB = 1)."""
        return catalog.find_gpu(self.gpu).train_speed  # type: ignore[union-attr]


# --- arrival processes -------------------------------------------------------------------


class PoissonArrivals(Spec):
    """Homogeneous Poisson arrivals at ``rate`` (per second)."""

    process: Literal["poisson"]
    rate: PositiveRate

    def mean_rate(self) -> float:
        return self.rate


class DeterministicArrivals(Spec):
    """Evenly spaced arrivals: one every ``1 / rate`` seconds, the first at ``start``.

    Useful for D/M/c and D/D/c checks and for exact, hand-computable test scenarios."""

    process: Literal["deterministic"]
    rate: PositiveRate
    start: NonNegativeDuration = 0.0
    count: int | None = Field(None, ge=0, description="stop after this many arrivals")


class DiurnalArrivals(Spec):
    """A daily cycle in each origin's local time: a sinusoid around ``mean_rate``.

    rate(t) = mean_rate * (1 + a cos(2π (local_hour(t) - peak_hour) / 24)),
    a = (peak_to_trough - 1) / (peak_to_trough + 1).
    """

    process: Literal["diurnal"]
    mean_rate: PositiveRate
    peak_to_trough: float = Field(3.0, ge=1.0)
    peak_hour: float = Field(14.0, ge=0, lt=24, description="local time of the peak, hours")

    def mean_rate_value(self) -> float:
        return self.mean_rate


class MmppArrivals(Spec):
    """Markov-modulated Poisson (bursty): state i emits at ``rates[i]`` for an exponential
    sojourn of mean ``mean_durations[i]``, then moves to the next state (cyclically)."""

    process: Literal["mmpp"]
    rates: list[NonNegativeRate] = Field(min_length=2)
    mean_durations: list[PositiveDuration] = Field(min_length=2)

    @model_validator(mode="after")
    def _same_length(self) -> MmppArrivals:
        if len(self.rates) != len(self.mean_durations):
            raise ValueError(
                f"rates has {len(self.rates)} states but mean_durations has "
                f"{len(self.mean_durations)}; give one mean duration per rate"
            )
        if max(self.rates) <= 0:
            raise ValueError("at least one state must have a positive rate")
        return self


class RampArrivals(Spec):
    """Demand growth: the rate moves from ``start_rate`` to ``end_rate`` over ``over``
    seconds (linearly or exponentially), starting at ``start``, then stays at ``end_rate``."""

    process: Literal["ramp"]
    start_rate: NonNegativeRate
    end_rate: NonNegativeRate
    over: PositiveDuration
    start: NonNegativeDuration = 0.0
    shape: Literal["linear", "exponential"] = "linear"

    @model_validator(mode="after")
    def _positive_somewhere(self) -> RampArrivals:
        if self.start_rate <= 0 and self.end_rate <= 0:
            raise ValueError("start_rate and end_rate cannot both be 0")
        if self.shape == "exponential" and min(self.start_rate, self.end_rate) <= 0:
            raise ValueError("an exponential ramp needs start_rate and end_rate above 0")
        return self


ArrivalSpec = Annotated[
    PoissonArrivals | DeterministicArrivals | DiurnalArrivals | MmppArrivals | RampArrivals,
    Field(discriminator="process"),
]


class JobsWorkloadSpec(Spec):
    """Batch training jobs: gang-scheduled, run to completion."""

    kind: Literal["jobs"]
    arrivals: ArrivalSpec
    origin: dict[str, float] = Field(min_length=1, description="share of arrivals per region")
    gpus: DistOrValue = Field(default_factory=lambda: ConstantDist(dist="constant", value=1))
    duration: DistOrValue = Field(description="run time on the reference GPU (speed 1.0), s")
    data: DistOrValue = Field(
        default_factory=lambda: ConstantDist(dist="constant", value=0.0),
        description="input data moved to the running region, bytes",
    )
    priority: DistOrValue = Field(
        default_factory=lambda: ConstantDist(dist="constant", value=0.0),
        description="higher runs first under queue: priority",
    )
    residency: Literal["origin", "any"] | list[str] = "any"
    gpu_types: list[str] | None = None

    @field_validator("origin")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        if any(share < 0 for share in value.values()):
            raise ValueError("shares cannot be negative")
        total = sum(value.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, got {total:g}")
        return value

    @field_validator("gpu_types")
    @classmethod
    def _known_gpus(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = []
        for name in value:
            found = catalog.find_gpu(name)
            if found is None:
                raise ValueError(f"unknown GPU {name!r}")
            names.append(found.name)
        return names

    @model_validator(mode="after")
    def _positive(self) -> JobsWorkloadSpec:
        if self.gpus.lower() < 1:
            raise ValueError("gpus: every job needs at least 1 GPU")
        if self.duration.lower() < 0:
            raise ValueError("duration: a duration cannot be negative")
        if self.data.lower() < 0:
            raise ValueError("data: a size cannot be negative")
        return self


class InferenceWorkloadSpec(Spec):
    """Placeholder for online inference services (request-level serving comes later)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: Literal["inference"]


WorkloadSpec = Annotated[JobsWorkloadSpec | InferenceWorkloadSpec, Field(discriminator="kind")]


class SchedulerSpec(Spec):
    """How each region's queue is ordered, where jobs are placed and routed."""

    queue: Literal["fifo", "backfill", "shortest-first", "priority"] = "fifo"
    placement: Literal["first-fit", "best-fit", "spread"] = "best-fit"
    routing: Literal["nearest", "least-loaded", "latency-aware"] = "nearest"


class StaticPolicySpec(Spec):
    """No scaling: the fleet stays as given (the baseline every comparison needs)."""

    kind: Literal["static"]


PolicySpec = Annotated[StaticPolicySpec, Field(discriminator="kind")]


class Scenario(Spec):
    """A complete, validated scenario. Every quantity is in base units."""

    name: Name
    description: str = ""
    seed: int = Field(0, ge=0)
    horizon: PositiveDuration
    warmup: NonNegativeDuration = 0.0
    sample_every: PositiveDuration = 300.0
    regions: dict[Name, RegionSpec] = Field(min_length=1)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    node_types: dict[Name, NodeTypeSpec] = Field(min_length=1)
    fleet: dict[str, dict[str, int]] = Field(default_factory=dict)
    workloads: dict[Name, WorkloadSpec] = Field(default_factory=dict)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    policies: list[PolicySpec] = Field(default_factory=list)

    # Where the scenario came from: the folder relative paths resolve against (not hashed).
    source: str | None = Field(None, exclude=True, description="file the scenario was read from")

    @model_validator(mode="before")
    @classmethod
    def _fill_regions_from_catalog(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("regions"), dict):
            return data
        data = dict(data)
        regions = {}
        for name, spec in data["regions"].items():
            if spec is None:
                spec = {}
            if isinstance(spec, dict):
                spec = dict(spec)
                site = catalog.find_region(str(spec.get("site") or name))
                if site is None and isinstance(spec.get("location"), dict):
                    loc = spec["location"]
                    try:
                        site = catalog.nearest_site(float(loc["lat"]), float(loc["lon"]))
                    except (KeyError, TypeError, ValueError):
                        site = None
                if site is not None:
                    spec.setdefault("site", site.name)
                    spec.setdefault("location", {"lat": site.lat, "lon": site.lon})
                    spec.setdefault("jurisdiction", site.jurisdiction)
                    spec.setdefault("utc_offset", site.utc_offset)
            regions[name] = spec
        data["regions"] = regions
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        problems: list[tuple[str, str]] = []
        if self.warmup >= self.horizon:
            problems.append(("warmup", "must be shorter than horizon"))
        regions = self.regions
        jurisdictions = {r.jurisdiction for r in regions.values()}
        for name, spec in regions.items():
            if spec.site is not None and catalog.find_region(spec.site) is None:
                problems.append((f"regions.{name}.site", f"unknown built-in site {spec.site!r}"))
        for a, row in self.network.rtt_overrides.items():
            for b in [a, *row]:
                if b not in regions:
                    problems.append((f"network.rtt_overrides.{a}", _unknown("region", b, regions)))
        for region, counts in self.fleet.items():
            if region not in regions:
                problems.append((f"fleet.{region}", _unknown("region", region, regions)))
                continue
            total = 0
            for node_type, count in counts.items():
                if node_type not in self.node_types:
                    problems.append(
                        (f"fleet.{region}.{node_type}", _unknown("node type", node_type, self.node_types))
                    )
                if not isinstance(count, int) or count < 0:
                    problems.append((f"fleet.{region}.{node_type}", "expected a node count >= 0"))
                else:
                    total += count
            spec = regions[region]
            if total and not spec.active:
                problems.append((f"fleet.{region}", "the region is inactive (active: false): no nodes"))
            if spec.max_nodes is not None and total > spec.max_nodes:
                problems.append(
                    (f"fleet.{region}", f"{total} nodes exceed the region's max_nodes ({spec.max_nodes})")
                )
        for wname, work in self.workloads.items():
            base = f"workloads.{wname}"
            if isinstance(work, InferenceWorkloadSpec):
                problems.append(
                    (f"{base}.kind", "inference workloads are not available in this version yet; "
                     "use kind: jobs")
                )
                continue
            for origin in work.origin:
                if origin not in regions:
                    problems.append((f"{base}.origin.{origin}", _unknown("region", origin, regions)))
            if isinstance(work.residency, list):
                for j in work.residency:
                    if j not in jurisdictions:
                        problems.append(
                            (f"{base}.residency", f"no region has jurisdiction {j!r}; known: "
                             f"{', '.join(sorted(jurisdictions))}")
                        )
            if work.gpu_types is not None:
                have = {t.gpu for t in self.node_types.values()}
                if not set(work.gpu_types) & have:
                    problems.append(
                        (f"{base}.gpu_types", f"no node type has any of {work.gpu_types}; "
                         f"node types have {sorted(have)}")
                    )
            if not problems:
                smallest = work.gpus.lower()
                largest = max((self.possible_gpus(r, work) for r in regions), default=0)
                if smallest > largest:
                    problems.append(
                        (f"{base}.gpus", f"no job of this workload can ever run: the smallest asks "
                         f"for {smallest:g} GPUs but the largest allocation any allowed region can "
                         f"offer is {largest:g} GPUs")
                    )
        if problems:
            raise ScenarioError(None, problems)
        return self

    # --- derived facts used by the world and the checks ---------------------------------

    @property
    def scaling(self) -> bool:
        """True when some policy may change the fleet (so supply caps, not the fleet, bound it)."""
        return any(p.kind != "static" for p in self.policies)

    def node_types_for(self, work: JobsWorkloadSpec) -> list[str]:
        """Names of the node types whose GPU a workload accepts."""
        return [
            name for name, t in self.node_types.items()
            if work.gpu_types is None or t.gpu in work.gpu_types
        ]

    def possible_gpus(self, region: str, work: JobsWorkloadSpec) -> float:
        """Largest single-job allocation a region can ever offer a workload, GPUs.

        A job fits on one node, or spans nodes of one type in one region. Without scaling
        policies the fleet is fixed; with them, the region's ``max_nodes`` bounds it (inf when
        unset)."""
        spec = self.regions[region]
        if not spec.active and not self.scaling:
            return 0.0
        best = 0.0
        for name in self.node_types_for(work):
            t = self.node_types[name]
            if self.scaling:
                nodes = spec.max_nodes if spec.max_nodes is not None else float("inf")
                best = max(best, nodes * (t.max_gpus or t.gpus))
            else:
                best = max(best, self.fleet.get(region, {}).get(name, 0) * t.gpus)
        return best

    def allowed_jurisdictions(self, work: JobsWorkloadSpec, origin: str) -> set[str] | None:
        """Jurisdictions a job from ``origin`` may run in; ``None`` means anywhere."""
        if work.residency == "any":
            return None
        if work.residency == "origin":
            return {self.regions[origin].jurisdiction}
        return set(work.residency)

    def digest(self) -> str:
        """SHA-256 of the resolved scenario (canonical YAML), for provenance."""
        return hashlib.sha256(self.to_yaml().encode()).hexdigest()

    def to_yaml(self) -> str:
        """The resolved scenario as YAML (every default filled in, base units)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _unknown(what: str, name: str, known: typing.Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{what} {name!r} is not defined{hint}; defined: {', '.join(known)}"


# --- loading --------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_scenario(
    source: str | os.PathLike[str] | dict[str, Any] | Scenario,
    overrides: dict[str, Any] | None = None,
) -> Scenario:
    """Read, override and validate a scenario.

    Args:
        source: a YAML file path, a dict with the same content, or a :class:`Scenario`.
        overrides: ``{"path.to.field": value}`` applied before validation, as ``--set`` does.
            String values are parsed as YAML (never evaluated).

    Raises:
        ScenarioError: with the file, the path of every problem and what was expected.
    """
    file: str | None = None
    if isinstance(source, Scenario):
        if not overrides:
            return source
        raw = source.model_dump(mode="json")
        file = source.source
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    else:
        file = str(source)
        raw = _read_yaml(Path(file))
    try:
        raw = _expand_vars(raw, "")
        for path, value in (overrides or {}).items():
            _set_path(raw, path, _parse_override_value(value))
    except ScenarioError as err:
        raise ScenarioError(file, err.problems) from None
    if not isinstance(raw, dict):
        raise ScenarioError(file, [("", "expected a mapping of scenario fields at the top level")])
    if file is not None:
        raw.setdefault("name", Path(file).stem)
        raw["source"] = str(Path(file).resolve())
    try:
        return Scenario.model_validate(raw)
    except ScenarioError as err:
        raise ScenarioError(file, err.problems) from None
    except ValidationError as err:
        raise ScenarioError(file, _explain(err, raw)) from None


def parse_overrides(pairs: typing.Iterable[str]) -> dict[str, Any]:
    """``["a.b=3", "c=20/h"]`` -> ``{"a.b": "3", "c": "20/h"}`` (values stay text; YAML later)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        path, sep, value = pair.partition("=")
        if not sep or not path.strip():
            raise ScenarioError(None, [("--set", f"expected path=value, got {pair!r}")])
        out[path.strip()] = value
    return out


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), [("", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(str(path), [("", f"cannot read: {err}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ScenarioError(str(path), [("", f"{where}not valid YAML ({problem})")]) from None


def _parse_override_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return yaml.safe_load(value) if value.strip() else value
        except yaml.YAMLError:
            return value
    return value


def _expand_vars(node: Any, path: str) -> Any:
    if isinstance(node, dict):
        return {k: _expand_vars(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_vars(v, f"{path}.{i}") for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ScenarioError(None, [(path, f"environment variable {name} is not set")])
            return os.environ[name]

        return _VAR.sub(sub, node)
    return node


def _set_path(raw: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    node = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(None, [(where, f"no list item {part} (the list has {len(node)})")])
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            raise ScenarioError(None, [(where, "cannot set a field inside a plain value")])


# --- readable validation errors -----------------------------------------------------------


def _explain(err: ValidationError, raw: Any) -> list[tuple[str, str]]:
    problems = []
    seen = set()
    for e in err.errors(include_url=False):
        path, _, model = _walk(raw, e["loc"])
        message = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if e["type"] == "extra_forbidden":
            key = path.rsplit(".", 1)[-1]
            allowed = list(model.model_fields) if model is not None else []
            allowed = [a for a in allowed if a != "source"]
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            message = f"unknown key {key!r}"
            if close:
                message += f" (did you mean {close[0]!r}?)"
            elif allowed:
                message += f"; allowed: {', '.join(allowed)}"
        elif e["type"] == "missing":
            message = "required field is missing"
        elif e["type"] == "union_tag_invalid" or e["type"] == "literal_error":
            message = message.replace("Input tag", "value").replace("Input should be", "expected")
        else:
            value = e.get("input")
            if not isinstance(value, (dict, list)) and value is not None and "got" not in message:
                message = f"{message}, got {value!r}"
        if (path, message) not in seen:
            seen.add((path, message))
            problems.append((path, message))
    return problems


def _walk(raw: Any, loc: tuple[Any, ...]) -> tuple[str, Any, type[BaseModel] | None]:
    """Turn a pydantic ``loc`` into the user's path (dropping union tags and validator names)
    and find the model class that holds the last key (for near-miss suggestions)."""
    node: Any = raw
    model: type[BaseModel] | None = Scenario
    annotation: Any = Scenario
    parts: list[str] = []
    holder: type[BaseModel] | None = Scenario
    for part in loc:
        if isinstance(node, dict) and part in node:
            holder = _as_model(annotation, node)
            annotation = _child_annotation(annotation, node, part)
            node = node[part]
            parts.append(str(part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            holder = None
            annotation = _child_annotation(annotation, node, part)
            node = node[part]
            parts.append(str(part))
        elif (isinstance(node, dict) and isinstance(part, str) and not parts) or isinstance(node, dict):
            # A key that is not in the input: a missing field, or a union tag / validator name.
            model = _as_model(annotation, node)
            if model is not None and part in model.model_fields:
                parts.append(str(part))
                holder = model
                node = None
        model = holder
    return ".".join(parts), node, model


def _unwrap(annotation: Any) -> list[Any]:
    """Flatten Annotated / Optional / Union into candidate types."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _as_model(annotation: Any, node: Any) -> type[BaseModel] | None:
    models = [
        t for t in _unwrap(annotation) if isinstance(t, type) and issubclass(t, BaseModel)
    ]
    if len(models) <= 1:
        return models[0] if models else None
    if isinstance(node, dict):
        for m in models:
            for tag in ("kind", "process", "dist", "strategy"):
                field = m.model_fields.get(tag)
                if field is not None and node.get(tag) in typing.get_args(field.annotation):
                    return m
    return None


def _child_annotation(annotation: Any, node: Any, key: Any) -> Any:
    model = _as_model(annotation, node)
    if model is not None:
        field = model.model_fields.get(key) if isinstance(key, str) else None
        return field.annotation if field is not None else None
    for t in _unwrap(annotation):
        origin = typing.get_origin(t)
        if origin is dict and isinstance(node, dict):
            return typing.get_args(t)[1]
        if origin is list and isinstance(node, list):
            return typing.get_args(t)[0]
    return None

"""``node_types`` and ``fleet``: the kinds of node, and a fleet read from a traced node list.

``fleet: {region: {from_trace: {...}}}`` becomes node types and counts before validation
(:func:`fleet_from_trace`); the checks that a fleet names defined regions and node types are
in :mod:`swarmsim.scenario.checks`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from swarmsim import catalog
from swarmsim.catalog import mig_gpus, mig_profiles
from swarmsim.distributions import DistOrValue, LognormalDist
from swarmsim.errors import ScenarioError
from swarmsim.scenario.common import NonNegativeDuration, Provider, Spec, catalog_gpu, did_you_mean
from swarmsim.units import parse_data

#: Default node provisioning time: lognormal, median 3.5 min, p95 ≈ 8 min
#: (scaling-and-cloud-facts.md §6.1: sigma = ln(8 / 3.5) / 1.645 ≈ 0.5).
DEFAULT_PROVISION_TIME = {"dist": "lognormal", "median": 210.0, "sigma": 0.5}

#: Default seconds to change a GPU's MIG layout: an assumption (docs/catalog.md, "MIG").
DEFAULT_RECONFIGURE_S = 30.0


class NodeTypeSpec(Spec):
    """A kind of node: GPU model and count, price, provisioning time."""

    gpu: str
    gpus: int = Field(ge=1)
    max_gpus: int | None = Field(None, ge=1, description="vertical scaling limit, GPUs")
    usd_per_gpu_hour: float | None = Field(None, ge=0, description="default: GPU catalog price")
    provision_time: DistOrValue = Field(default_factory=lambda: LognormalDist(**DEFAULT_PROVISION_TIME))
    lead_time: NonNegativeDuration | None = Field(
        None, description="s from a policy's order to the node's delivery (then its provision_time); "
        "e.g. 6w. None: nodes are there as soon as asked for")
    provider: Provider = "datacenter"
    multi_node: bool = Field(
        True, description="a job may span several nodes of this type (fast interconnect)"
    )
    cpus: float | None = Field(None, gt=0, description="CPUs per node (sharing fleets)")
    memory: str | None = Field(None, description="host memory per node with a unit, e.g. 512GiB")
    gpu_sharing: Literal["none", "fractional", "mig"] = Field(
        "none", description="none: whole GPUs; fractional: a job may take a share of one GPU; mig: NVIDIA MIG"
    )
    mig_reconfigure: NonNegativeDuration | None = Field(
        None, description="s to change a GPU's MIG layout (gpu_sharing: mig; default 30 s, docs/catalog.md)")

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, value: str) -> str:
        return catalog_gpu(value)

    @field_validator("memory", mode="before")
    @classmethod
    def _memory_unit(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not re.search(r"[A-Za-z]", value):
            raise ValueError(f"give a unit, e.g. 512GiB (got {value!r})")
        parse_data(value)
        return value

    @property
    def memory_mib(self) -> float | None:
        """Host memory per node, MiB (None when not given)."""
        return None if self.memory is None else parse_data(self.memory) / 2**20

    @model_serializer(mode="wrap")
    def _drop_sharing_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        # The sharing fields and lead_time appear in a resolved scenario only when set, so the
        # resolved scenarios of fleets that do not use them stay as they were.
        out = handler(self)
        if isinstance(out, dict):
            for key, default in (("cpus", None), ("memory", None), ("gpu_sharing", "none"), ("mig_reconfigure", None),
                                 ("lead_time", None)):
                if key in out and out[key] == default:
                    del out[key]
        return out

    @model_validator(mode="after")
    def _resolve(self) -> NodeTypeSpec:
        if self.max_gpus is not None and self.max_gpus < self.gpus:
            raise ValueError(f"max_gpus ({self.max_gpus}) is below gpus ({self.gpus})")
        if self.provision_time.lower() < 0:
            raise ValueError("provision_time: a duration cannot be negative")
        if self.usd_per_gpu_hour is None:
            price = catalog.find_gpu(self.gpu).usd_per_gpu_hour  # type: ignore[union-attr]  # catalog_gpu validated the name
            object.__setattr__(self, "usd_per_gpu_hour", price)
        if self.max_gpus is None:
            object.__setattr__(self, "max_gpus", self.gpus)
        if self.gpu_sharing == "mig" and not mig_profiles(self.gpu):
            raise ValueError(f"gpu_sharing: mig needs a GPU with MIG ({', '.join(mig_gpus())}), not {self.gpu}")
        if self.mig_reconfigure is not None and self.gpu_sharing != "mig":
            raise ValueError("mig_reconfigure: only for gpu_sharing: mig")
        return self

    @property
    def reconfigure_s(self) -> float:
        """Seconds to change a GPU's MIG layout on this node type."""
        return DEFAULT_RECONFIGURE_S if self.mig_reconfigure is None else float(self.mig_reconfigure)

    @property
    def speed(self) -> float:
        """Training speed of this node's GPU relative to the reference GPU (A100-80GB = 1)."""
        return catalog.find_gpu(self.gpu).train_speed  # type: ignore[union-attr]  # catalog_gpu validated the name


def fleet_from_trace(data: Any) -> Any:
    """``fleet: {region: {from_trace: {format, path, gpu_map, scale}}}`` becomes node types
    (one per traced GPU model and node size, named like ``v100x8``) and node counts."""
    if not isinstance(data, dict) or not isinstance(data.get("fleet"), dict):
        return data
    fleet = dict(data["fleet"])
    if "from_trace" in fleet:  # fleet: {from_trace: {..., region: r}}: the same, for one region
        spec = fleet.pop("from_trace")
        regions = list(data.get("regions") or {})
        region = spec.pop("region", None) if isinstance(spec, dict) else None
        if region is None and len(regions) == 1:
            region = regions[0]
        if region is None:
            raise ScenarioError(None, [("fleet.from_trace.region", "required when the scenario has several "
                                        f"regions: one of {', '.join(regions)}")])
        per_region = dict(fleet.get(region) or {})
        per_region["from_trace"] = spec
        fleet[region] = per_region
    if not any(isinstance(c, dict) and "from_trace" in c for c in fleet.values()):
        return data
    data = dict(data)
    fleet = {k: dict(v) if isinstance(v, dict) else v for k, v in fleet.items()}
    node_types = dict(data.get("node_types") or {})
    problems: list[tuple[str, str]] = []
    for region, counts in fleet.items():
        if not isinstance(counts, dict) or "from_trace" not in counts:
            continue
        spec = counts.pop("from_trace")
        where = f"fleet.{region}.from_trace"
        try:
            for name, node_type, count in nodes_from_trace(spec, data.get("source")):
                existing = node_types.get(name)
                if existing is not None and existing != node_type:
                    problems.append((where, f"node type {name!r} is already defined differently"))
                    continue
                node_types[name] = node_type
                counts[name] = counts.get(name, 0) + count
        except ScenarioError as err:
            problems += [(f"{where}{'.' + p if p else ''}", m) for p, m in err.problems]
    if problems:
        raise ScenarioError(None, problems)
    data["fleet"], data["node_types"] = fleet, node_types
    return data


def nodes_from_trace(spec: Any, source: str | None) -> list[tuple[str, dict[str, Any], int]]:
    """(node type name, node type spec, count) for each kind of node in a traced inventory."""
    from swarmsim.traces import BadRows, NodeRows, TraceError
    from swarmsim.traces.formats import FORMATS

    if not isinstance(spec, dict) or "format" not in spec or "path" not in spec:
        raise ScenarioError(None, [("", "expected {format: ..., path: ..., gpu_map: {...}, scale: 1.0}")])
    allowed = ("format", "path", "gpu_map", "scale", "usd_per_gpu_hour", "gpu_sharing")
    unknown = set(spec) - set(allowed)
    if unknown:
        key = sorted(unknown)[0]
        raise ScenarioError(None, [(key, f"unknown key {key!r}{did_you_mean(key, allowed)}; allowed: "
                                         f"{', '.join(allowed)}")])
    fmt = FORMATS.get(str(spec["format"]))
    if fmt is None or fmt.kind != "nodes":
        nodes = sorted(n for n, f in FORMATS.items() if f.kind == "nodes")
        raise ScenarioError(None, [("format", f"expected a node-list format ({', '.join(nodes)}), "
                                              f"got {spec['format']!r}")])
    path = Path(str(spec["path"]))
    if not path.is_absolute() and source:
        path = Path(source).parent / path
    gpu_map = dict(spec.get("gpu_map") or {})
    scale = float(spec.get("scale", 1.0))
    if spec.get("gpu_sharing", "none") != "none":
        return _sharing_nodes(spec, path, gpu_map, scale)
    totals: dict[tuple[str, int], int] = {}
    try:
        for chunk in fmt.read(str(path), BadRows("error", str(path)), 100_000):
            rows = cast(NodeRows, chunk)  # a "nodes" format reads NodeRows
            for model, gpus, count in zip(rows.gpu_model, rows.gpus, rows.count, strict=True):
                key = (str(model), int(gpus))
                totals[key] = totals.get(key, 0) + int(count)
    except TraceError as err:
        raise ScenarioError(None, [("path", err.format())]) from None
    out, unmapped = [], set()
    for (model, gpus), count in totals.items():
        found = catalog.find_gpu(gpu_map.get(model, model))
        if found is None:
            unmapped.add(model)
            continue
        name = re.sub(r"[^a-z0-9]+", "", found.name.lower()) + f"x{gpus}"
        node_type: dict[str, Any] = {"gpu": found.name, "gpus": gpus}
        if "usd_per_gpu_hour" in spec:
            node_type["usd_per_gpu_hour"] = spec["usd_per_gpu_hour"]
        out.append((name, node_type, round(count * scale)))
    if unmapped:
        raise ScenarioError(None, [("gpu_map", f"GPU models {sorted(unmapped)} are not in the catalog; map "
                                               "each to a catalog GPU, e.g. gpu_map: {G2: A100-80GB}")])
    merged: dict[str, tuple[dict[str, Any], int]] = {}
    for name, node_type, count in out:
        merged[name] = (node_type, merged.get(name, (node_type, 0))[1] + count)
    return [(name, nt, c) for name, (nt, c) in merged.items() if c > 0]


def _sharing_nodes(spec: dict[str, Any], path: Path, gpu_map: dict[str, str],
                   scale: float) -> list[tuple[str, dict[str, Any], int]]:
    """Node types of a sharing fleet from a node list with each node's CPU and memory
    (``alibaba-gpu-2023-nodes``): one type per (GPU model, GPUs, CPUs, memory), in the order
    each kind first appears, named like ``v100x8-96c-384gib``."""
    from swarmsim.traces import BadRows, TraceError
    from swarmsim.traces.shares import read_node_resources

    if spec["format"] != "alibaba-gpu-2023-nodes":
        raise ScenarioError(None, [("gpu_sharing", "a sharing fleet from a trace needs each node's CPU and "
                                                   "memory: format alibaba-gpu-2023-nodes")])
    try:
        res = read_node_resources(str(path), BadRows("error", str(path)))
    except TraceError as err:
        raise ScenarioError(None, [("path", err.format())]) from None
    kinds: dict[tuple[str, int, int, int], int] = {}
    for model, gpus, cpu, mem in zip(res.model.tolist(), res.gpus.tolist(), res.cpu_milli.tolist(),
                                     res.memory_mib.tolist(), strict=True):
        key = (str(model), int(gpus), int(cpu), int(mem))
        kinds[key] = kinds.get(key, 0) + 1
    out: list[tuple[str, dict[str, Any], int]] = []
    unmapped: set[str] = set()
    for (model, gpus, cpu, mem), count in kinds.items():
        found = catalog.find_gpu(gpu_map.get(model, model))
        if found is None:
            unmapped.add(model)
            continue
        base = re.sub(r"[^a-z0-9]+", "", found.name.lower())
        name = f"{base}x{gpus}-{cpu / 1000:g}c-{mem / 1024:g}gib".replace(".", "p")
        node_type: dict[str, Any] = {"gpu": found.name, "gpus": gpus, "cpus": cpu / 1000,
                                     "memory": f"{mem}MiB", "gpu_sharing": spec["gpu_sharing"]}
        if "usd_per_gpu_hour" in spec:
            node_type["usd_per_gpu_hour"] = spec["usd_per_gpu_hour"]
        if name in [o[0] for o in out]:
            name = f"{name}-{model.lower()}"
        out.append((name, node_type, round(count * scale)))
    if unmapped:
        raise ScenarioError(None, [("gpu_map", f"GPU models {sorted(unmapped)} are not in the catalog; map "
                                               "each to a catalog GPU, e.g. gpu_map: {G2: A100-80GB}")])
    return [o for o in out if o[2] > 0]

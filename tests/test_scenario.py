"""Loading a scenario: overrides, ``${VAR}``, catalog defaults, units, freezing, digest, YAML.

Contract: scenario-format.md §1 (units in base units), §3 (``--set``/``overrides`` change any
field before validation, values parsed as YAML; ``${VAR}`` expansion), §4 (``load_scenario``
takes a path or a dict) and §5 (``swarmsim schema``).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

import swarmsim
from swarmsim import catalog
from swarmsim.cli import builtin_scenario
from swarmsim.distributions import ConstantDist, EmpiricalDist
from swarmsim.errors import ScenarioError
from swarmsim.scenario import Scenario, load_scenario, parse_overrides

BASE: dict[str, Any] = {
    "name": "loader",
    "seed": 1,
    "horizon": "2d",
    "warmup": "6h",
    "sample_every": "10m",
    "regions": {
        "us-east": {},
        "eu-west": {"price_multiplier": 1.08},
        "edge-fra": {"location": {"lat": 50.1, "lon": 8.7}, "jurisdiction": "EU", "utc_offset": 1,
                     "kind": "edge", "access_latency": "5ms", "max_nodes": 4},
    },
    "network": {"bandwidth": "5Gbps", "rtt_overrides": {"us-east": {"eu-west": "76ms"}}},
    "node_types": {
        "a100x8": {"gpu": "A100-80GB", "gpus": 8},
        "l4x2": {"gpu": "L4", "gpus": 2, "usd_per_gpu_hour": 0.8},
    },
    "fleet": {"us-east": {"a100x8": 2}, "eu-west": {"a100x8": 1, "l4x2": 2}},
    "workloads": {
        "training": {
            "kind": "jobs",
            "arrivals": {"process": "poisson", "rate": "20/h"},
            "origin": {"us-east": 0.6, "eu-west": 0.4},
            "gpus": {"dist": "empirical", "values": [1, 2, 4, 8], "weights": [4, 3, 2, 1]},
            "duration": {"dist": "lognormal", "median": "1.5h", "sigma": 1.0},
            "data": "20GB",
        }
    },
}


def base(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(changes))
    return data


@pytest.fixture(scope="module")
def sc() -> Scenario:
    return load_scenario(base())


# --- overrides -------------------------------------------------------------------------


def test_override_values_are_parsed_as_yaml() -> None:
    got = load_scenario(base(), overrides={"seed": "5"})
    assert got.seed == 5 and isinstance(got.seed, int)
    got = load_scenario(base(), overrides={
        "workloads.training.data": "{dist: constant, value: 2h}",
        "workloads.training.gpu_types": "[A100-80GB]",
        "regions.us-east.active": "true",
        "description": "just text",
    })
    assert got.workloads["training"].data == ConstantDist(value=7200.0)
    assert got.workloads["training"].gpu_types == ["A100-80GB"]
    assert got.regions["us-east"].active is True
    assert got.description == "just text"


def test_override_values_are_never_evaluated() -> None:
    got = load_scenario(base(), overrides={"description": "__import__('os').getcwd()"})
    assert got.description == "__import__('os').getcwd()"
    # A YAML tag that would build a Python object is not honoured: the text stays text.
    tagged = "!!python/object/apply:os.getcwd []"
    assert load_scenario(base(), overrides={"description": tagged}).description == tagged


def test_override_non_strings_pass_through() -> None:
    got = load_scenario(base(), overrides={"seed": 9, "regions.eu-west.price_multiplier": 1.5})
    assert got.seed == 9
    assert got.regions["eu-west"].price_multiplier == 1.5


def test_override_list_index() -> None:
    got = load_scenario(base(), overrides={"workloads.training.gpus.values.0": "3"})
    gpus = got.workloads["training"].gpus
    assert isinstance(gpus, EmpiricalDist)
    assert gpus.values == [3.0, 2.0, 4.0, 8.0]


def test_override_creates_missing_mappings() -> None:
    data = base()
    del data["network"]
    got = load_scenario(data, overrides={"network.bandwidth": "400Mbps", "scheduler.queue": "backfill"})
    assert got.network.bandwidth == 4e8
    assert got.scheduler.queue == "backfill"


def test_override_applies_before_validation() -> None:
    """An override can repair a scenario that would not validate on its own."""
    data = base()
    data["workloads"]["training"]["arrivals"]["rate"] = "fast"
    got = load_scenario(data, overrides={"workloads.training.arrivals.rate": "40/h"})
    assert got.workloads["training"].arrivals.rate == pytest.approx(40 / 3600)


def test_overrides_do_not_touch_the_caller_dict() -> None:
    data = base()
    before = copy.deepcopy(data)
    load_scenario(data, overrides={"seed": "4", "workloads.training.gpus.values.0": "2"})
    assert data == before


def test_parse_overrides() -> None:
    assert parse_overrides(["seed=5", " a.b = 20/h", "x=y=z", "empty="]) == {
        "seed": "5", "a.b": " 20/h", "x": "y=z", "empty": "",
    }
    with pytest.raises(ScenarioError) as info:
        parse_overrides(["seed"])
    assert info.value.problems == [("overrides", "expected path=value, got 'seed'")]


@pytest.mark.parametrize(("path", "value", "where", "phrase"), [
    ("workloads.training.gpus.values.7", "1", "workloads.training.gpus.values.7", "has 4 entries; index 7 is out"),
    ("workloads.training.gpus.values.x", "1", "workloads.training.gpus.values.x", "'x' is not an index"),
    ("seed.deeper", "1", "seed.deeper", "cannot set 'deeper'"),
    ("a..b", "1", "overrides", "dotted path"),
])
def test_bad_override_paths(path: str, value: str, where: str, phrase: str, tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text(yaml.safe_dump(base()))
    with pytest.raises(ScenarioError) as info:
        load_scenario(file, overrides={path: value})
    assert info.value.file == str(file)
    [(got_where, message)] = info.value.problems
    assert got_where == where and phrase in message


# --- ${VAR} ------------------------------------------------------------------------------


def test_env_vars_expand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMSIM_TEST_RATE", "7/h")
    monkeypatch.setenv("SWARMSIM_TEST_WHO", "ops")
    data = base(description="owned by ${SWARMSIM_TEST_WHO}, rate ${SWARMSIM_TEST_RATE}")
    data["workloads"]["training"]["arrivals"]["rate"] = "${SWARMSIM_TEST_RATE}"
    got = load_scenario(data)
    assert got.workloads["training"].arrivals.rate == pytest.approx(7 / 3600)
    assert got.description == "owned by ops, rate 7/h"


def test_env_vars_expand_in_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWARMSIM_TEST_HORIZON", "12h")
    file = tmp_path / "env.yaml"
    file.write_text(yaml.safe_dump(base()).replace("horizon: 2d", "horizon: ${SWARMSIM_TEST_HORIZON}"))
    assert "${SWARMSIM_TEST_HORIZON}" in file.read_text()
    assert load_scenario(file).horizon == 43200.0


def test_unset_env_var_names_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARMSIM_TEST_NOPE", raising=False)
    data = base()
    data["workloads"]["training"]["data"] = "${SWARMSIM_TEST_NOPE}"
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    assert info.value.problems == [
        ("workloads.training.data", "environment variable SWARMSIM_TEST_NOPE is not set "
                                    "(used as ${SWARMSIM_TEST_NOPE})")
    ]


# --- defaults from the catalogs ------------------------------------------------------------


def test_region_given_by_name_gets_catalog_facts(sc: Scenario) -> None:
    site = catalog.find_region("us-east")
    assert site is not None
    region = sc.regions["us-east"]
    assert region.jurisdiction == site.jurisdiction == "US"
    assert (region.location.lat, region.location.lon) == (site.lat, site.lon)
    assert region.utc_offset == site.utc_offset
    assert region.site == "us-east"
    assert region.kind == "core" and region.access_latency_s == 0.020
    assert region.active is True and region.price_multiplier == 1.0


def test_region_fields_given_win_over_the_catalog() -> None:
    got = load_scenario(base(regions={"us-east": {"jurisdiction": "XX", "utc_offset": 3}}, fleet={},
                             workloads={}, network={}))
    assert got.regions["us-east"].jurisdiction == "XX"
    assert got.regions["us-east"].utc_offset == 3


def test_region_with_only_a_location_gets_the_nearest_site(sc: Scenario) -> None:
    edge = sc.regions["edge-fra"]
    assert edge.jurisdiction == "EU" and edge.access_latency_s == 0.005
    assert edge.site is not None and catalog.find_region(edge.site) is not None


def test_node_price_from_gpu_catalog(sc: Scenario) -> None:
    gpu = catalog.find_gpu("A100-80GB")
    assert gpu is not None
    assert sc.node_types["a100x8"].usd_per_gpu_hour == gpu.usd_per_gpu_hour
    assert sc.node_types["l4x2"].usd_per_gpu_hour == 0.8  # given explicitly
    assert sc.node_types["a100x8"].max_gpus == 8  # defaults to gpus


def test_gpu_aliases_resolve_to_the_catalog_name() -> None:
    got = load_scenario(base(), overrides={"node_types.l4x2.gpu": "NVIDIA-L4"})
    assert got.node_types["l4x2"].gpu == "L4"


# --- sources ------------------------------------------------------------------------------


def test_load_accepts_a_path_a_dict_and_a_scenario(tmp_path: Path) -> None:
    file = tmp_path / "from-file.yaml"
    file.write_text(yaml.safe_dump(base(), sort_keys=False))
    from_str, from_path, from_dict = load_scenario(str(file)), load_scenario(file), load_scenario(base())
    assert from_str == from_path
    assert from_path.source == str(file.resolve())
    assert from_dict.source is None
    assert from_path.digest() == from_dict.digest()  # where it came from is not part of it
    assert load_scenario(from_dict) is from_dict
    changed = load_scenario(from_path, overrides={"seed": "8"})
    assert changed.seed == 8 and from_path.seed == 1
    assert changed.source == from_path.source
    assert swarmsim.load_scenario is load_scenario


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    data = base()
    del data["name"]
    file = tmp_path / "my-study.yaml"
    file.write_text(yaml.safe_dump(data))
    assert load_scenario(file).name == "my-study"
    bad = tmp_path / "my study.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    [(path, message)] = info.value.problems
    assert path == "name" and "file name" in message


def test_yaml_merge_keys_work_and_duplicate_keys_are_errors(tmp_path: Path) -> None:
    file = tmp_path / "merge.yaml"
    file.write_text(
        "name: merged\nhorizon: 1d\nregions: {us-east: {}}\n"
        "node_types:\n"
        "  a100x8: &node {gpu: A100-80GB, gpus: 8, usd_per_gpu_hour: 2.0}\n"
        "  a100x4: {<<: *node, gpus: 4}\n"  # a merged key may be overridden
    )
    merged = load_scenario(file).node_types["a100x4"]
    assert (merged.gpu, merged.gpus, merged.usd_per_gpu_hour) == ("A100-80GB", 4, 2.0)
    # PyYAML alone keeps the last of two equal keys: a silently ignored line.
    file.write_text("name: dup\nseed: 1\nhorizon: 1d\nseed: 2\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    assert info.value.problems == [("", "line 4, column 1: not valid YAML (duplicate key 'seed' "
                                        "(first given on line 2))")]


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    file = tmp_path / "list.yaml"
    file.write_text("- a\n- b\n")
    with pytest.raises(ScenarioError, match="expected a mapping of scenario fields"):
        load_scenario(file)


# --- units, freezing, digest, YAML round trip ----------------------------------------------


def test_units_are_resolved_to_base_units(sc: Scenario) -> None:
    assert sc.horizon == 172800.0
    assert sc.warmup == 21600.0
    assert sc.sample_every == 600.0
    assert sc.network.bandwidth == 5e9
    assert sc.network.rtt_overrides == {"us-east": {"eu-west": pytest.approx(0.076)}}
    assert sc.regions["edge-fra"].access_latency == pytest.approx(0.005)
    work = sc.workloads["training"]
    assert work.arrivals.rate == pytest.approx(20 / 3600)
    assert work.duration.median == 5400.0
    assert work.data == ConstantDist(value=2e10)


@pytest.mark.parametrize("spelling", ["2d", "48h", "2880m", "1d24h", 172800, "172800"])
def test_unit_spellings_resolve_to_the_same_scenario(spelling: Any, sc: Scenario) -> None:
    other = load_scenario(base(horizon=spelling))
    assert other.horizon == 172800.0
    assert other == sc
    assert other.digest() == sc.digest()


def test_scenario_is_frozen(sc: Scenario) -> None:
    with pytest.raises(ValidationError):
        sc.seed = 2  # type: ignore[misc]
    with pytest.raises(ValidationError):
        sc.regions["us-east"].active = False  # type: ignore[misc]
    with pytest.raises(ValidationError):
        sc.workloads["training"].arrivals.rate = 1.0  # type: ignore[misc, union-attr]
    with pytest.raises(ValidationError):
        sc.node_types["a100x8"].gpus = 4  # type: ignore[misc]


@pytest.mark.parametrize("change", [
    {"seed": "2"},
    {"description": "another"},
    {"horizon": "3d"},
    {"warmup": "5h"},
    {"sample_every": "5m"},
    {"regions.eu-west.price_multiplier": "1.1"},
    {"regions.us-east.utc_offset": "-4"},
    {"network.bandwidth": "10Gbps"},
    {"network.egress_usd_per_gb": "0.05"},
    {"node_types.a100x8.usd_per_gpu_hour": "2.5"},
    {"node_types.a100x8.provision_time": "5m"},
    {"fleet.us-east.a100x8": "3"},
    {"workloads.training.arrivals.rate": "21/h"},
    {"workloads.training.gpus.weights.0": "5"},
    {"workloads.training.residency": "origin"},
    {"scheduler.placement": "spread"},
])
def test_digest_changes_with_any_field(change: dict[str, str], sc: Scenario) -> None:
    other = load_scenario(base(), overrides=change)
    assert other != sc
    assert other.digest() != sc.digest()


def test_digest_is_stable_otherwise(sc: Scenario) -> None:
    assert load_scenario(base()).digest() == sc.digest()
    # Writing out what the catalog would fill in, or a default, is the same scenario.
    site = catalog.find_region("us-east")
    assert site is not None
    explicit = base()
    explicit["regions"]["us-east"] = {
        "location": {"lat": site.lat, "lon": site.lon}, "jurisdiction": site.jurisdiction,
        "utc_offset": site.utc_offset, "kind": "core", "active": True,
    }
    explicit["scheduler"] = {"queue": "fifo"}
    explicit["workloads"]["training"]["data"] = {"dist": "constant", "value": "20GB"}
    assert load_scenario(explicit).digest() == sc.digest()
    assert len(sc.digest()) == 64 and int(sc.digest(), 16) >= 0


def test_to_yaml_round_trips(sc: Scenario, tmp_path: Path) -> None:
    again = load_scenario(yaml.safe_load(sc.to_yaml()))
    assert again == sc
    assert again.to_yaml() == sc.to_yaml()
    file = tmp_path / "resolved.yaml"
    file.write_text(sc.to_yaml())
    from_file = load_scenario(file)
    assert from_file.model_dump() == sc.model_dump()
    assert from_file.digest() == sc.digest()


def test_builtin_quickstart_round_trips(tmp_path: Path) -> None:
    quick = load_scenario(builtin_scenario())
    assert quick.name == "quickstart" and quick.source == str(builtin_scenario().resolve())
    file = tmp_path / "quickstart.yaml"
    file.write_text(quick.to_yaml())
    again = load_scenario(file)
    assert again.model_dump() == quick.model_dump()
    assert again.digest() == quick.digest()
    assert "source" not in yaml.safe_load(quick.to_yaml())


# --- JSON Schema ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "swarmsim.cli", "schema"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_schema_is_json_schema_of_the_format(schema: dict[str, Any]) -> None:
    assert schema["type"] == "object"
    props = schema["properties"]
    for key in ("name", "horizon", "regions", "node_types", "fleet", "workloads", "scheduler"):
        assert key in props
    assert "source" not in props
    assert set(schema["required"]) >= {"name", "horizon", "regions", "node_types"}
    assert schema.get("additionalProperties") is False  # unknown keys are errors for editors too


def test_schema_validates_the_quickstart(schema: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is not installed in the venv (not a swarmsim dependency)"
    )
    document = yaml.safe_load(builtin_scenario().read_text())
    jsonschema.validate(document, schema)

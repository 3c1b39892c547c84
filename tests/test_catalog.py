"""The built-in catalogs: sourced rows, alias resolution, RTT coverage and the fibre floor."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import pytest

from swarmsim import catalog
from swarmsim.catalog import (
    REFERENCE_GPU,
    find_gpu,
    find_region,
    gpu_types,
    great_circle_km,
    measured_rtt_ms,
    nearest_site,
    region_sites,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIBRE_KM_PER_MS = 200.0  # light in fibre covers ~200 km per ms; the round trip doubles d


def _norm_gpu(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


# --- GPUs --------------------------------------------------------------------------------


def test_every_gpu_row_is_sourced_and_positive():
    gpus = gpu_types()
    assert len(gpus) >= 15
    for gpu in gpus.values():
        assert gpu.speed_source.strip(), gpu.name
        assert gpu.price_source.strip(), gpu.name
        for field in ("memory_gb", "train_speed", "fp16_tflops", "mem_bw_tbps", "usd_per_gpu_hour"):
            value = getattr(gpu, field)
            assert math.isfinite(value) and value > 0, (gpu.name, field, value)


def test_reference_gpu_has_speed_exactly_one():
    assert REFERENCE_GPU == "A100-80GB"
    assert gpu_types()[REFERENCE_GPU].train_speed == 1.0


def test_required_gpus_are_present():
    required = {
        "T4",
        "L4",
        "A10",
        "A10G",
        "L40S",
        "V100",
        "RTX-3090",
        "RTX-4090",
        "RTX-A6000",
        "A100-40GB",
        "A100-80GB",
        "H100-PCIe",
        "H100-SXM",
        "H200",
        "B200",
    }
    assert required <= set(gpu_types())


def test_training_speed_ordering_is_sane():
    s = {name: gpu.train_speed for name, gpu in gpu_types().items()}
    assert s["H100-SXM"] > s["A100-80GB"] > s["V100"] > s["T4"]
    assert s["B200"] > s["H200"] > s["H100-SXM"] > s["H100-PCIe"] > s["A100-80GB"]
    assert s["A100-80GB"] > s["A100-40GB"]
    assert s["RTX-4090"] > s["RTX-3090"]


def test_specs_match_well_known_datasheet_values():
    a100 = find_gpu("A100-80GB")
    h100 = find_gpu("H100-SXM")
    assert a100 is not None and h100 is not None
    assert (a100.memory_gb, a100.fp16_tflops) == (80, 312)
    assert (h100.memory_gb, h100.fp16_tflops, h100.mem_bw_tbps) == (80, 989, 3.35)
    assert find_gpu("H200").memory_gb == 141  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("A100", "A100-80GB"),
        ("a100-80gb", "A100-80GB"),
        ("A100_80GB", "A100-80GB"),
        ("a100 sxm4 80gb", "A100-80GB"),
        ("A100-SXM4-40GB", "A100-40GB"),
        ("H100", "H100-SXM"),
        ("h100-80gb", "H100-SXM"),
        ("H100 PCIe", "H100-PCIe"),
        ("rtx4090", "RTX-4090"),
        ("A6000", "RTX-A6000"),
        ("a10g", "A10G"),
        ("A10", "A10"),
        (" t4 ", "T4"),
    ],
)
def test_gpu_aliases_resolve(spelling, canonical):
    found = find_gpu(spelling)
    assert found is not None, spelling
    assert found.name == canonical


def test_unknown_gpu_is_none():
    assert find_gpu("TPU-v5e") is None
    assert find_gpu("") is None


def test_gpu_spellings_never_collide():
    owner: dict[str, str] = {}
    for gpu in gpu_types().values():
        for spelling in (gpu.name, *gpu.aliases):
            key = _norm_gpu(spelling)
            assert owner.setdefault(key, gpu.name) == gpu.name, (spelling, owner[key], gpu.name)


def test_every_gpu_resolves_to_itself():
    for name, gpu in gpu_types().items():
        for spelling in (name, *gpu.aliases):
            assert find_gpu(spelling) is gpu


def test_gpu_types_returns_a_fresh_dict():
    first = gpu_types()
    first.pop(REFERENCE_GPU)
    assert REFERENCE_GPU in gpu_types()
    assert find_gpu(REFERENCE_GPU) is not None


# --- regions -----------------------------------------------------------------------------

JURISDICTIONS = {"US", "CA", "BR", "EU", "UK", "CH", "AE", "ZA", "IN", "SG", "HK", "JP", "KR", "AU"}


def test_at_least_twenty_sourced_regions():
    sites = region_sites()
    assert len(sites) >= 20
    for site in sites.values():
        assert site.source.strip() and site.azure_name.strip() and site.city.strip()
        assert -90 <= site.lat <= 90 and -180 <= site.lon <= 180
        assert site.jurisdiction in JURISDICTIONS, site
        assert -12 <= site.utc_offset <= 14
        assert (site.utc_offset * 4).is_integer()  # whole or quarter hours


def test_required_regions_are_present():
    required = {
        "us-east",
        "us-central",
        "us-west",
        "us-south",
        "ca-central",
        "sa-east",
        "eu-west",
        "uk-south",
        "eu-central",
        "eu-west-nl",
        "fr-central",
        "eu-north",
        "me-central",
        "af-south",
        "ap-south",
        "ap-southeast",
        "ap-east",
        "ap-northeast",
        "ap-northeast-2",
        "ap-southeast-2",
    }
    assert required <= set(region_sites())


def test_region_facts():
    sites = region_sites()
    assert sites["eu-central"].jurisdiction == "EU"
    assert sites["uk-south"].jurisdiction == "UK"
    assert sites["us-east"].utc_offset == -5
    assert sites["ap-south"].utc_offset == 5.5
    assert sites["ap-northeast"].utc_offset == 9


def test_region_spellings_never_collide():
    owner: dict[str, str] = {}
    for site in region_sites().values():
        for spelling in (site.name, *site.aliases):
            key = spelling.lower()
            assert owner.setdefault(key, site.name) == site.name, (spelling, owner[key], site.name)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("us-east", "us-east"),
        ("US-EAST-1", "us-east"),
        ("eastus", "us-east"),
        ("eu-central-1", "eu-central"),
        ("GermanyWestCentral", "eu-central"),
        ("europe-west3", "eu-central"),
        ("westeurope", "eu-west-nl"),
        ("ap-northeast-2", "ap-northeast-2"),
        ("koreacentral", "ap-northeast-2"),
        ("australiaeast", "ap-southeast-2"),
    ],
)
def test_region_aliases_resolve(spelling, canonical):
    site = find_region(spelling)
    assert site is not None, spelling
    assert site.name == canonical


def test_unknown_region_is_none():
    assert find_region("mars-north-1") is None


def test_every_azure_name_is_distinct():
    names = [site.azure_name for site in region_sites().values()]
    assert len(names) == len(set(names))


# --- RTT ---------------------------------------------------------------------------------


def test_every_pair_has_a_positive_rtt():
    names = list(region_sites())
    for a, b in itertools.combinations(names, 2):
        rtt = measured_rtt_ms(a, b)
        assert rtt is not None and rtt > 0, (a, b)
        assert measured_rtt_ms(b, a) == rtt


def test_rtt_file_has_exactly_one_ordered_row_per_pair():
    path = Path(catalog.__file__).with_name("rtt.csv")
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = set(region_sites())
    pairs = [(row["a"], row["b"]) for row in rows]
    assert all(a < b for a, b in pairs)
    assert all(a in names and b in names for a, b in pairs)
    assert len(pairs) == len(set(pairs)) == len(names) * (len(names) - 1) // 2
    assert all(row["source"].strip() for row in rows)


def test_rtt_to_itself_or_unknown_is_none():
    assert measured_rtt_ms("us-east", "us-east") is None
    assert measured_rtt_ms("us-east", "mars-north") is None


def test_measured_rtt_never_beats_light_in_fibre():
    """RTT >= 2 d / (200 km/ms) = d / 100 ms: no measured path may be faster than physics."""
    sites = region_sites()
    for a, b in itertools.combinations(sites.values(), 2):
        floor_ms = 2 * great_circle_km(a.lat, a.lon, b.lat, b.lon) / FIBRE_KM_PER_MS
        rtt = measured_rtt_ms(a.name, b.name)
        assert rtt is not None
        assert rtt >= floor_ms, (a.name, b.name, rtt, floor_ms)


def test_rtt_examples_are_plausible():
    # Same-continent neighbours are fast, antipodal-ish pairs are slow.
    assert measured_rtt_ms("eu-central", "eu-west-nl") < 20  # type: ignore[operator]
    assert measured_rtt_ms("us-east", "us-west") < 100  # type: ignore[operator]
    assert measured_rtt_ms("sa-east", "ap-southeast") > 250  # type: ignore[operator]


# --- geometry ----------------------------------------------------------------------------


def test_great_circle_new_york_london():
    km = great_circle_km(40.7128, -74.0060, 51.5074, -0.1278)
    assert km == pytest.approx(5570, rel=0.01)


def test_great_circle_basic_properties():
    assert great_circle_km(10, 20, 10, 20) == 0
    assert great_circle_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371)
    assert great_circle_km(90, 0, -90, 0) == pytest.approx(math.pi * 6371)
    assert great_circle_km(1, 2, 3, 4) == pytest.approx(great_circle_km(3, 4, 1, 2))


def test_nearest_site_finds_frankfurt():
    site = nearest_site(50.1109, 8.6821)
    assert site is not None and site.name == "eu-central"


def test_nearest_site_none_far_from_any_site():
    assert nearest_site(0.0, -140.0) is None  # mid Pacific
    assert nearest_site(-75.0, 0.0) is None  # Antarctica


def test_nearest_site_respects_max_km():
    # Mainz is ~35 km from the Frankfurt site.
    assert nearest_site(49.9929, 8.2473, max_km=10) is None
    assert nearest_site(49.9929, 8.2473, max_km=50).name == "eu-central"  # type: ignore[union-attr]


# --- against the published data (skipped when /work/shared/data is absent) -------------------


@pytest.fixture(scope="module")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"published data folder not found at {SHARED_DATA} (../shared/data)")
    return SHARED_DATA


def test_rtt_matches_azure_matrix(shared_data):
    path = shared_data / "azure-region-latency" / "azure_region_rtt_p95_ms.csv"
    with path.open(encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)[1:]
        matrix = {row[0]: dict(zip(header, row[1:], strict=True)) for row in reader}
    sites = region_sites()
    for a, b in itertools.combinations(sites.values(), 2):
        ab = float(matrix[a.azure_name][b.azure_name])
        ba = float(matrix[b.azure_name][a.azure_name])
        assert measured_rtt_ms(a.name, b.name) == pytest.approx((ab + ba) / 2, abs=0.051)


def test_coordinates_come_from_the_coords_files(shared_data):
    coords = []
    for provider in ("aws", "azure", "gcp"):
        with (shared_data / "cloud-region-coords" / provider / "data.csv").open(
            encoding="utf-8"
        ) as f:
            for row in csv.DictReader(f):
                if row["lat"] and row["lon"]:
                    coords.append((float(row["lat"]), float(row["lon"])))
    for site in region_sites().values():
        assert any(
            abs(site.lat - lat) < 1e-3 and abs(site.lon - lon) < 1e-3 for lat, lon in coords
        ), site.name


def test_lambda_derived_speeds_match_the_benchmark(shared_data):
    path = shared_data / "lambda-gpu-benchmark" / "pytorch-train-throughput-fp16.csv"
    with path.open(encoding="utf-8") as f:
        rows = {row["name_gpu"]: row for row in csv.DictReader(f)}
    models = [
        c for c in rows["A100 80GB SXM4"] if c not in {"name_gpu", "num_gpu", "watt", "price"}
    ]
    ref = rows["A100 80GB SXM4"]
    for gpu_name, row_name in [
        ("V100", "LambdaCloud V100 16GB"),
        ("H100-SXM", "H100 80GB SXM5"),
        ("RTX-4090", "RTX 4090"),
        ("A10", "LambdaCloud A10"),
    ]:
        row = rows[row_name]
        used = [m for m in models if float(row[m]) > 0 and float(ref[m]) > 0]
        logs = [math.log(float(row[m]) / float(ref[m])) for m in used]
        expected = math.exp(sum(logs) / len(logs))
        assert find_gpu(gpu_name).train_speed == pytest.approx(expected, abs=5e-4)  # type: ignore[union-attr]

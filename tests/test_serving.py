"""The LLM request service-time model (swarmsim/serving.py) and its Splitwise calibration."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import swarmsim.catalog
from swarmsim.catalog import find_gpu, gpu_types
from swarmsim.serving import (
    BUILTIN_MODELS,
    DERIVED_MODELS,
    MEMORY_UTILIZATION,
    MODEL_WEIGHTS_GB,
    PREEMPTED_E2E_FACTOR,
    PROFILE_COLUMNS,
    TP_EFFICIENCY_DECODE,
    TP_EFFICIENCY_PREFILL,
    ServiceProfile,
    fit_profiles,
    profile_for_replica,
)

TABLE = Path(swarmsim.catalog.__file__).resolve().parent / "serving.csv"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PERF_MODEL = SHARED_DATA / "splitwise-perf-model" / "perf_model.csv"

needs_data = pytest.mark.skipif(
    not PERF_MODEL.is_file(),
    reason=f"Splitwise measurements not found at {PERF_MODEL} (shared/data is next to the repository)",
)

FLOATS = (
    "prefill_fixed_s",
    "prefill_s_per_token",
    "decode_s_per_token",
    "batch_slowdown",
    "fit_mape_prefill",
    "fit_mape_decode",
)


def committed() -> list[dict[str, str]]:
    with TABLE.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def committed_profiles() -> dict[tuple[str, str, int], tuple[ServiceProfile, dict[str, str]]]:
    return {
        (row["model"], row["hardware"], int(row["tensor_parallel"])): (
            ServiceProfile(
                float(row["prefill_fixed_s"]),
                float(row["prefill_s_per_token"]),
                float(row["decode_s_per_token"]),
                float(row["batch_slowdown"]),
            ),
            row,
        )
        for row in committed()
    }


def measured_rows(path: Path = PERF_MODEL) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def preempted(row: dict[str, str]) -> bool:
    expected_ms = float(row["prompt_time"]) + (float(row["token_size"]) - 1) * float(row["token_time"])
    return float(row["e2e_time"]) > PREEMPTED_E2E_FACTOR * expected_ms


def mape_percent(profile: ServiceProfile, rows: list[dict[str, str]]) -> tuple[float, float]:
    """(prefill MAPE on batch-1 rows, decode MAPE on all rows), percent, of measured ms rows."""
    prefill = [
        abs(profile.prefill_s(float(r["prompt_size"])) * 1000 / float(r["prompt_time"]) - 1)
        for r in rows
        if r["batch_size"] == "1"
    ]
    decode = [abs(profile.tpot_s(float(r["batch_size"])) * 1000 / float(r["token_time"]) - 1) for r in rows]
    return 100 * float(np.mean(prefill)), 100 * float(np.mean(decode))


# --- the committed table is the fit of the real data ----------------------------------------


def test_committed_table_has_the_documented_columns_and_sane_values():
    with TABLE.open(newline="", encoding="utf-8") as handle:
        assert tuple(next(csv.reader(handle))) == PROFILE_COLUMNS
    rows = committed()
    assert {r["model"] for r in rows} == set(BUILTIN_MODELS) - set(DERIVED_MODELS)
    assert {r["hardware"] for r in rows} == {"a100-80gb", "h100-80gb"}
    assert len(rows) == 8  # llama2-70b TP 2/4/8 and bloom-176b TP 8, on both GPUs
    for row in rows:
        for column in FLOATS:
            value = float(row[column])
            assert math.isfinite(value) and value > 0, (row["model"], row["hardware"], column)
        assert int(row["rows"]) > 0 and row["source"].startswith("Splitwise perf_model.csv")
        assert find_gpu(row["hardware"]) is not None, row["hardware"]


@needs_data
def test_committed_table_equals_fit_profiles_on_the_real_data():
    fitted = fit_profiles(PERF_MODEL)
    rows = committed()
    assert len(fitted) == len(rows)
    for fit, row in zip(fitted, rows, strict=True):
        where = f"{row['model']}/{row['hardware']}/TP{row['tensor_parallel']}"
        for column in ("model", "hardware", "source"):
            assert fit[column] == row[column], (where, column)
        assert fit["tensor_parallel"] == int(row["tensor_parallel"]), where
        assert fit["rows"] == int(row["rows"]), where
        for column in FLOATS:
            assert fit[column] == pytest.approx(float(row[column]), rel=1e-6), (where, column)


@needs_data
def test_recorded_mape_is_the_error_of_the_committed_constants():
    groups: dict[tuple[str, str, int], list[dict[str, str]]] = defaultdict(list)
    for row in measured_rows():
        if not preempted(row):
            groups[(row["model"], row["hardware"], int(row["tensor_parallel"]))].append(row)
    for shape, (profile, row) in committed_profiles().items():
        prefill, decode = mape_percent(profile, groups[shape])
        assert prefill == pytest.approx(float(row["fit_mape_prefill"]), rel=1e-6), shape
        assert decode == pytest.approx(float(row["fit_mape_decode"]), rel=1e-6), shape
        assert len(groups[shape]) == int(row["rows"]), shape


@needs_data
def test_fit_predicts_held_out_rows_within_the_recorded_error(tmp_path: Path):
    rows = measured_rows()
    train = [r for i, r in enumerate(rows) if i % 5 != 4]
    held_out = [r for i, r in enumerate(rows) if i % 5 == 4 and not preempted(r)]
    train_file = tmp_path / "train.csv"
    with train_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(train)
    recorded = {shape: row for shape, (_, row) in committed_profiles().items()}
    for fit in fit_profiles(train_file):
        shape = (fit["model"], fit["hardware"], fit["tensor_parallel"])
        profile = ServiceProfile(*(fit[c] for c in FLOATS[:4]))
        test_rows = [r for r in held_out if (r["model"], r["hardware"], int(r["tensor_parallel"])) == shape]
        assert len(test_rows) >= 15, shape
        prefill, decode = mape_percent(profile, test_rows)
        assert prefill <= float(recorded[shape]["fit_mape_prefill"]) + 2.0, shape
        assert decode <= float(recorded[shape]["fit_mape_decode"]) + 2.0, shape


@needs_data
def test_only_the_overflowing_tp2_batch64_runs_count_as_preempted():
    dropped = {
        (r["model"], r["hardware"], r["tensor_parallel"], r["batch_size"])
        for r in measured_rows()
        if r["hardware"] != "h100-80gb-pcap" and preempted(r)
    }
    assert dropped == {("llama2-70b", "a100-80gb", "2", "64"), ("llama2-70b", "h100-80gb", "2", "64")}


@needs_data
def test_batched_prompt_time_is_the_prefill_of_the_whole_batch():
    """Why the prefill fit uses batch-1 rows: prompt_time at batch b is about b prefills."""
    single: dict[tuple[str, ...], list[float]] = defaultdict(list)
    batched: list[tuple[tuple[str, ...], int, float]] = []
    for r in measured_rows():
        if r["prompt_size"] != "512" or r["token_size"] != "128" or preempted(r):
            continue
        shape = (r["model"], r["hardware"], r["tensor_parallel"])
        if r["batch_size"] == "1":
            single[shape].append(float(r["prompt_time"]))
        else:
            batched.append((shape, int(r["batch_size"]), float(r["prompt_time"])))
    for shape, batch, prompt_ms in batched:
        ratio = prompt_ms / float(np.mean(single[shape]))
        assert 0.5 * batch <= ratio <= 1.5 * batch, (shape, batch, ratio)


def test_fit_profiles_names_missing_columns(tmp_path: Path):
    bad = tmp_path / "perf.csv"
    bad.write_text("model,hardware,tensor_parallel,prompt_size\nllama2-70b,a100-80gb,2,512\n")
    with pytest.raises(ValueError, match="missing columns"):
        fit_profiles(bad)


# --- physics ----------------------------------------------------------------------------------


def test_known_splitwise_point_llama2_70b_a100_tp2():
    """SOURCE.md: 512-token prompt, batch 1: prompt_time ~196 ms, token_time ~55 ms."""
    profile = ServiceProfile.from_catalog("llama2-70b", "A100-80GB", 2)
    assert profile.prefill_s(512) == pytest.approx(0.196, rel=0.10)
    assert profile.tpot_s(1) == pytest.approx(0.055, rel=0.10)


def test_h100_is_faster_than_a100_for_prefill_and_decode():
    table = committed_profiles()
    for (model, hardware, tp), (h100, _) in table.items():
        if hardware != "h100-80gb":
            continue
        a100 = table[(model, "a100-80gb", tp)][0]
        for prompt in (128, 512, 2048, 8192):
            assert h100.prefill_s(prompt) < a100.prefill_s(prompt), (model, tp, prompt)
        for batch in (1, 16, 64):
            assert h100.tpot_s(batch) < a100.tpot_s(batch), (model, tp, batch)


def test_tpot_grows_with_batch_but_throughput_grows_faster():
    batches = np.arange(1, 65)
    for shape, (profile, _) in committed_profiles().items():
        tpot = profile.tpot_s(batches)
        assert np.all(np.diff(tpot) > 0), shape
        tokens_per_s = batches / tpot
        assert np.all(np.diff(tokens_per_s) > 0), shape
        assert tokens_per_s[-1] > 20 * tokens_per_s[0], shape  # why batching dominates capacity


def test_l4_decodes_slower_than_a100_by_the_bandwidth_ratio():
    a100 = ServiceProfile.from_catalog("llama2-70b", "A100-80GB", 8)
    l4 = ServiceProfile.from_catalog("llama2-70b", "L4", 8)
    assert l4.tpot_s(1) / a100.tpot_s(1) == pytest.approx(2.039 / 0.30, rel=0.01)
    assert l4.batch_slowdown == a100.batch_slowdown
    assert l4.prefill_s(1024) / a100.prefill_s(1024) == pytest.approx(312 / 121, rel=1e-9)


# --- deriving other shapes --------------------------------------------------------------------


def test_profiled_shapes_come_back_unchanged_under_any_alias():
    table = committed_profiles()
    for gpu in ("A100-80GB", "a100", "A100-SXM4-80GB"):
        assert ServiceProfile.from_catalog("llama2-70b", gpu, 4) == table[("llama2-70b", "a100-80gb", 4)][0]
    for gpu in ("H100-SXM", "H100", "h100-80gb"):
        assert ServiceProfile.from_catalog("Llama2-70B", gpu, 8) == table[("llama2-70b", "h100-80gb", 8)][0]
    assert ServiceProfile.from_catalog("bloom-176b", "A100", 8) == table[("bloom-176b", "a100-80gb", 8)][0]


def test_other_tp_degrees_scale_the_nearest_profiled_tp_with_the_stated_efficiency():
    table = committed_profiles()
    tp8 = table[("llama2-70b", "a100-80gb", 8)][0]
    tp16 = ServiceProfile.from_catalog("llama2-70b", "A100-80GB", 16)
    assert tp16.prefill_s(1000) == pytest.approx(tp8.prefill_s(1000) / (1 + TP_EFFICIENCY_PREFILL), rel=1e-12)
    assert tp16.tpot_s(8) == pytest.approx(tp8.tpot_s(8) / (1 + TP_EFFICIENCY_DECODE), rel=1e-12)
    tp4 = table[("llama2-70b", "a100-80gb", 4)][0]
    tp3 = ServiceProfile.from_catalog("llama2-70b", "A100-80GB", 3)  # 4/3 is nearer than 3/2
    assert tp3.prefill_s(1000) == pytest.approx(
        tp4.prefill_s(1000) * (1 + TP_EFFICIENCY_PREFILL / 3), rel=1e-12
    )
    h100_tp2 = table[("llama2-70b", "h100-80gb", 2)][0]
    b200_tp1 = ServiceProfile.from_catalog("llama2-70b", "B200", 1)  # fewer GPUs: slower by 1 + e
    assert b200_tp1.prefill_s(1000) == pytest.approx(
        h100_tp2.prefill_s(1000) * 989 / 2250 * (1 + TP_EFFICIENCY_PREFILL), rel=1e-12
    )


def test_tp_efficiencies_are_what_the_splitwise_fits_show():
    """The constants are the mean doubling efficiency (TP 2->4, 4->8, A100 and H100) of Llama2-70B."""
    table = committed_profiles()
    prefill, decode = [], []
    for hardware in ("a100-80gb", "h100-80gb"):
        for low, high in ((2, 4), (4, 8)):
            slow = table[("llama2-70b", hardware, low)][0]
            fast = table[("llama2-70b", hardware, high)][0]
            prefill.append(slow.prefill_s(1024) / fast.prefill_s(1024) - 1)
            decode.append(slow.decode_s_per_token / fast.decode_s_per_token - 1)
    assert abs(TP_EFFICIENCY_PREFILL - float(np.mean(prefill))) <= 0.025, prefill
    assert abs(TP_EFFICIENCY_DECODE - float(np.mean(decode))) <= 0.025, decode


def test_other_gpus_scale_the_nearest_profiled_hardware_by_compute_and_bandwidth():
    table = committed_profiles()
    h100 = table[("llama2-70b", "h100-80gb", 2)][0]
    h200 = ServiceProfile.from_catalog("llama2-70b", "H200", 2)  # same TFLOPS, 4.8 vs 3.35 TB/s
    assert h200.prefill_s(700) == pytest.approx(h100.prefill_s(700), rel=1e-12)
    assert h200.tpot_s(1) == pytest.approx(h100.tpot_s(1) * 1.643 / 2.354, rel=1e-12)
    a100 = table[("llama2-70b", "a100-80gb", 4)][0]
    l40s = ServiceProfile.from_catalog("llama2-70b", "L40S", 4)  # nearer to the A100 than the H100
    assert l40s.prefill_s(700) == pytest.approx(a100.prefill_s(700) * 312 / 362, rel=1e-12)
    assert l40s.tpot_s(1) == pytest.approx(a100.tpot_s(1) * 1.0 / 0.424, rel=1e-12)
    assert "scaled to 4 x L40S" in l40s.basis


def test_decode_speed_is_the_bandwidth_ratio_to_the_a100_80gb():
    for gpu in gpu_types().values():
        assert gpu.decode_speed == round(gpu.mem_bw_tbps / 2.039, 3), gpu.name
    assert gpu_types()["A100-80GB"].decode_speed == 1.0


# --- errors -----------------------------------------------------------------------------------


def test_unknown_model_lists_the_built_in_models_and_shapes():
    with pytest.raises(ValueError, match=r"unknown model 'gpt-4'.*bloom-176b, llama2-70b.*TP 2/4/8"):
        ServiceProfile.from_catalog("gpt-4", "A100-80GB", 8)


@pytest.mark.parametrize("gpus", [0, -2, 2.0, True])
def test_gpus_must_be_a_whole_number_at_least_one(gpus):
    with pytest.raises(ValueError, match="gpus: expected a whole number"):
        ServiceProfile.from_catalog("llama2-70b", "A100-80GB", gpus)


def test_unknown_gpu_is_refused():
    with pytest.raises(ValueError, match="unknown GPU 'TPU-v5'"):
        ServiceProfile.from_catalog("llama2-70b", "TPU-v5", 8)


@pytest.mark.parametrize(
    ("model", "gpu", "gpus"),
    [("llama2-70b", "A100-80GB", 1), ("llama2-70b", "L4", 4), ("bloom-176b", "H100-SXM", 4)],
)
def test_a_replica_that_cannot_hold_the_weights_is_refused(model, gpu, gpus):
    have = MEMORY_UTILIZATION * gpus * gpu_types()[gpu].memory_gb
    assert have < MODEL_WEIGHTS_GB[model]
    with pytest.raises(ValueError, match=rf"{model} needs .* GB of FP16 weights.*profiled shapes"):
        ServiceProfile.from_catalog(model, gpu, gpus)


@pytest.mark.parametrize(
    "field", ["prefill_fixed_s", "prefill_s_per_token", "decode_s_per_token", "batch_slowdown"]
)
@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, "0.1"])
def test_explicit_constants_are_validated(field, value):
    constants = {
        "prefill_fixed_s": 0.02,
        "prefill_s_per_token": 1e-4,
        "decode_s_per_token": 0.03,
        "batch_slowdown": 0.01,
        field: value,
    }
    with pytest.raises(ValueError, match=f"ServiceProfile.{field}"):
        ServiceProfile(**constants)


def test_zero_decode_time_is_refused():
    with pytest.raises(ValueError, match="decode_s_per_token"):
        ServiceProfile(0.0, 0.0, 0.0, 0.0)


# --- the formulas, scalar and vectorized ------------------------------------------------------


def test_explicit_profile_follows_the_documented_formulas():
    p = ServiceProfile(
        prefill_fixed_s=0.02,
        prefill_s_per_token=1e-4,
        decode_s_per_token=0.03,
        batch_slowdown=0.01,
        basis="my own measurements",
    )
    assert p.prefill_s(1000) == pytest.approx(0.12)
    assert p.tpot_s(1) == pytest.approx(0.03)
    assert p.tpot_s(11) == pytest.approx(0.033)
    assert p.ttft_s(1000, 11) == pytest.approx(0.12 + 0.033)
    assert p.service_s(1000, 100, 11) == pytest.approx(0.12 + 100 * 0.033)
    assert p == ServiceProfile(0.02, 1e-4, 0.03, 0.01)  # basis is not part of equality
    assert all(
        type(x) is float for x in (p.prefill_s(10), p.tpot_s(3), p.ttft_s(10, 3), p.service_s(10, 5, 3))
    )


def test_methods_accept_numpy_arrays_and_agree_with_the_scalar_path():
    p = ServiceProfile.from_catalog("bloom-176b", "H100-SXM", 8)
    rng = np.random.default_rng(7)
    prompt = rng.integers(1, 8192, size=50)
    output = rng.integers(1, 2048, size=50)
    batch = rng.integers(1, 65, size=50)
    vector = p.service_s(prompt, output, batch)
    scalar = [
        p.service_s(float(a), float(b), float(c)) for a, b, c in zip(prompt, output, batch, strict=True)
    ]
    np.testing.assert_allclose(vector, scalar, rtol=1e-12)
    np.testing.assert_allclose(p.ttft_s(prompt, batch), p.prefill_s(prompt) + p.tpot_s(batch), rtol=1e-12)
    np.testing.assert_allclose(vector, p.prefill_s(prompt) + output * p.tpot_s(batch), rtol=1e-12)


# --- a scenario replica -----------------------------------------------------------------------


def replica(model: str = "llama2-70b", gpus: int = 4, **constants: float) -> SimpleNamespace:
    values = dict.fromkeys(FLOATS[:4])
    values.update(constants)
    return SimpleNamespace(model=model, gpus=gpus, **values)


def test_a_replica_without_constants_gets_the_built_in_profile():
    built_in = ServiceProfile.from_catalog("llama2-70b", "L40S", 4)
    assert ServiceProfile.for_replica(replica(), "L40S") == built_in
    assert profile_for_replica(replica(), "L40S") == built_in


def test_replica_constants_replace_the_built_in_ones_as_given():
    built_in = ServiceProfile.from_catalog("llama2-70b", "H100-SXM", 4)
    mixed = ServiceProfile.for_replica(replica(decode_s_per_token=0.02), "H100-SXM")
    assert mixed.decode_s_per_token == 0.02
    assert (mixed.prefill_fixed_s, mixed.prefill_s_per_token, mixed.batch_slowdown) == (
        built_in.prefill_fixed_s,
        built_in.prefill_s_per_token,
        built_in.batch_slowdown,
    )
    assert "explicit decode_s_per_token" in mixed.basis


def test_a_replica_with_all_constants_needs_no_built_in_model():
    own = replica(
        "my-finetune-3b",
        1,
        prefill_fixed_s=0.01,
        prefill_s_per_token=2e-5,
        decode_s_per_token=0.012,
        batch_slowdown=0.005,
    )
    assert ServiceProfile.for_replica(own, "L4") == ServiceProfile(0.01, 2e-5, 0.012, 0.005)
    with pytest.raises(ValueError, match=r"unknown model 'my-finetune-3b'.*or set all of prefill_fixed_s"):
        ServiceProfile.for_replica(replica("my-finetune-3b", 1, decode_s_per_token=0.012), "L4")


def test_derived_small_models_follow_memory_bandwidth_physics() -> None:
    # A 7 B model in FP16 is 14 GB of weights; at batch 1 each output token reads them once, so
    # the time per token is about 14 GB / memory bandwidth (L4: 0.30 TB/s -> ~47 ms).
    from swarmsim.catalog import find_gpu

    for gpu in ("L4", "A100-80GB", "H100-SXM"):
        tpot = ServiceProfile.from_catalog("llama2-7b", gpu, 1).tpot_s(1)
        floor = 14e9 / (find_gpu(gpu).mem_bw_tbps * 1e12)
        assert floor <= tpot <= 3 * floor, (gpu, tpot, floor)
    with pytest.raises(ValueError, match="needs 26 GB"):
        ServiceProfile.from_catalog("llama2-13b", "L4", 1)
    assert ServiceProfile.from_catalog("llama2-13b", "L4", 2).tpot_s(1) > ServiceProfile.from_catalog(
        "llama2-7b", "L4", 2).tpot_s(1)

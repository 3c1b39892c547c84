"""Request service time of an LLM serving replica, calibrated on the Splitwise measurements.

A replica of one model runs on ``gpus`` GPUs of one type (tensor parallelism = ``gpus``) and
serves several requests at once (continuous batching). A request with ``P`` prompt tokens and
``O`` output tokens, admitted when the replica then holds ``b`` requests (itself included),
takes::

    prefill_s = prefill_fixed_s + P * prefill_s_per_token
                + P^2 * prefill_s_per_token_sq                           (compute-bound)
    tpot_s(b) = decode_s_per_token * (1 + batch_slowdown * (b - 1))  (memory-bound)
    service_s = prefill_s + O * tpot_s(b)
    ttft_s    = prefill_s + tpot_s(b)                                 (from admission)

The four constants form a :class:`ServiceProfile`. Built-in profiles (``llama2-70b``,
``bloom-176b``) come from ``catalog/serving.csv``, which :func:`fit_profiles` fits on the
Splitwise ``perf_model.csv`` (A100-80GB and H100-80GB, tensor parallelism 2/4/8 and 8).
:meth:`ServiceProfile.from_catalog` derives other GPU types and TP degrees from them; other
models of the model catalog get a roofline profile (:mod:`swarmsim.roofline`, efficiency factors
fitted on the same data). Every built-in profile carries its fit's uncertainty: bootstrap
samples over the measurement rows (``catalog/serving_bootstrap.csv``, ``catalog/roofline.csv``),
drawn with ``sample=`` / ``rng=``. ``docs/serving.md`` gives the fits, their errors and limits.

No SimPy and no pandas here: the scalar methods are plain float arithmetic for the hot path,
and the same methods accept numpy arrays.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from swarmsim import roofline
from swarmsim.catalog import GpuType, find_gpu, find_model

__all__ = [
    "BUILTIN_MODELS",
    "MEMORY_UTILIZATION",
    "MODEL_WEIGHTS_GB",
    "PREEMPTED_E2E_FACTOR",
    "PROFILED_HARDWARE",
    "PROFILE_COLUMNS",
    "TP_EFFICIENCY_DECODE",
    "TP_EFFICIENCY_PREFILL",
    "ReplicaShape",
    "ServiceProfile",
    "bootstrap_samples",
    "draw_sample",
    "fit_profiles",
    "profile_for_replica",
    "roofline_profile",
    "write_profiles",
]

BUILTIN_MODELS = ("llama2-70b", "bloom-176b", "llama2-13b", "llama2-7b")
"""Models with built-in profiles: fitted on Splitwise (70B, 176B) or derived from Llama2-70B
(:data:`DERIVED_MODELS`); any other model needs explicit constants."""

DERIVED_MODELS = {"llama2-13b": ("llama2-70b", 13 / 70), "llama2-7b": ("llama2-70b", 7 / 70)}
"""Smaller models of the same architecture, **derived, not measured** (reference §9.2): the
physical floors of the smaller model on the target GPUs (prefill: 2 FLOP per parameter per
prompt token over peak FP16 compute; decode: FP16 weights read per output token over memory
bandwidth), times how far the measured Llama2-70B times sit above the same floors on A100 TP2
(about 1.5x for prefill, 1.7x for decode). The batch factor and fixed prefill (scaled by the
parameter ratio) come from the base model."""

PROFILED_HARDWARE = ("a100-80gb", "h100-80gb")
"""Splitwise hardware names that :func:`fit_profiles` fits (the power-capped
``h100-80gb-pcap`` rows are left out); both are aliases in the GPU catalog
(A100-80GB and H100-SXM)."""

MODEL_WEIGHTS_GB = {"llama2-70b": 140.0, "bloom-176b": 352.0, "llama2-13b": 26.0, "llama2-7b": 14.0}
"""FP16 weights of the built-in models, GB (2 bytes x 70 B and 176 B parameters; reference
scaling-and-cloud-facts.md §9.2). :meth:`ServiceProfile.from_catalog` refuses replicas whose
memory cannot hold them."""

MEMORY_UTILIZATION = 0.9
"""Share of GPU memory a serving engine may use (vLLM ``gpu_memory_utilization`` default)."""

TP_EFFICIENCY_PREFILL = 0.4
"""Efficiency of tensor parallelism for prefill, 0..1: changing TP by a ratio ``r`` (larger over
smaller degree) changes prefill speed by a factor ``1 + e (r - 1)``. Chosen as the mean, rounded
to 0.05, of the four doubling efficiencies of the Llama2-70B fits for a 1,024-token prompt
(A100 TP 2->4 0.57, 4->8 0.43; H100 0.44, 0.22; docs/serving.md)."""

TP_EFFICIENCY_DECODE = 0.15
"""Efficiency of tensor parallelism for decode (per-token time), same rule and derivation as
:data:`TP_EFFICIENCY_PREFILL` from ``decode_s_per_token`` (A100 TP 2->4 0.29, 4->8 -0.01;
H100 0.27, -0.03): decode of a 70 B model barely gains from more GPUs past TP 4."""

PROFILE_COLUMNS = (
    "model",
    "hardware",
    "tensor_parallel",
    "prefill_fixed_s",
    "prefill_s_per_token",
    "decode_s_per_token",
    "batch_slowdown",
    "fit_mape_prefill",
    "fit_mape_decode",
    "rows",
    "source",
)
"""Columns of ``catalog/serving.csv``, in order."""

PREEMPTED_E2E_FACTOR = 2.0
"""A measured row whose ``e2e_time`` exceeds this factor times ``prompt_time + (token_size - 1)
* token_time`` is dropped from the fits: the run did not decode at the measured per-token rate
(the KV cache overflowed and requests were preempted; docs/serving.md)."""

_MEASURED = ("prompt_size", "batch_size", "token_size", "prompt_time", "token_time", "e2e_time")
"""The numeric columns of perf_model.csv that the fits read, in unpacking order."""

_SOURCE = "Splitwise perf_model.csv (Mutinifni/splitwise-sim@8f99e7d)"

T = TypeVar("T", float, npt.NDArray[Any])

_CONSTANTS = ("prefill_fixed_s", "prefill_s_per_token", "decode_s_per_token", "batch_slowdown")


class ReplicaShape(Protocol):
    """What :meth:`ServiceProfile.for_replica` reads from a replica (the scenario's ``ReplicaSpec``):
    the model, the GPU count and optional explicit constants (None = from the built-in profile)."""

    @property
    def model(self) -> str: ...
    @property
    def gpus(self) -> int: ...
    @property
    def prefill_fixed_s(self) -> float | None: ...
    @property
    def prefill_s_per_token(self) -> float | None: ...
    @property
    def decode_s_per_token(self) -> float | None: ...
    @property
    def batch_slowdown(self) -> float | None: ...


@dataclass(frozen=True)
class ServiceProfile:
    """Service-time constants of one replica shape (model, GPU type, tensor parallelism).

    Construct it from your own measurements, or take a built-in one with :meth:`from_catalog`.

    Attributes:
        prefill_fixed_s: prefill time independent of the prompt length, s.
        prefill_s_per_token: prefill time per prompt token, s/token.
        decode_s_per_token: time per output token with one request in the batch (TPOT at
            batch 1), s/token.
        batch_slowdown: relative growth of the per-token time per additional request in the
            batch, dimensionless: ``tpot_s(b) = decode_s_per_token * (1 + batch_slowdown * (b - 1))``.
        basis: where the constants come from (for people; ignored in comparisons).
        prefill_s_per_token_sq: prefill time per squared prompt token (causal attention),
            s/token^2; 0 in the Splitwise fits (linear prefill), > 0 in roofline profiles.
    """

    prefill_fixed_s: float
    prefill_s_per_token: float
    decode_s_per_token: float
    batch_slowdown: float
    basis: str = field(default="", compare=False)
    prefill_s_per_token_sq: float = 0.0

    def __post_init__(self) -> None:
        for name in (*_CONSTANTS, "prefill_s_per_token_sq"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"ServiceProfile.{name}: expected a finite number >= 0, got {value!r}")
        if self.decode_s_per_token == 0:
            raise ValueError("ServiceProfile.decode_s_per_token: expected a positive time per token, got 0")

    # --- the model (hot path: plain arithmetic, works on floats and numpy arrays) ----------------

    def prefill_s(self, prompt_tokens: T) -> T:
        """Prefill time of a prompt of ``prompt_tokens`` tokens, s."""
        return self.prefill_fixed_s + prompt_tokens * (self.prefill_s_per_token
                                                       + prompt_tokens * self.prefill_s_per_token_sq)

    def tpot_s(self, batch: T) -> T:
        """Time per output token when the replica holds ``batch`` >= 1 requests, s/token."""
        return self.decode_s_per_token * (1.0 + self.batch_slowdown * (batch - 1))

    def service_s(self, prompt_tokens: T, output_tokens: T, batch: T | float) -> T:
        """Time from admission to the last output token, s: prefill plus ``output_tokens``
        tokens at the per-token time of the batch size ``batch`` at admission (one batch size
        for arrays of tokens, or one per request)."""
        return (
            self.prefill_fixed_s
            + prompt_tokens * (self.prefill_s_per_token + prompt_tokens * self.prefill_s_per_token_sq)
            + output_tokens * self.decode_s_per_token * (1.0 + self.batch_slowdown * (batch - 1))
        )

    def ttft_s(self, prompt_tokens: T, batch: T | float) -> T:
        """Time to first token from admission, s: prefill plus one token at batch ``batch``."""
        return (
            self.prefill_fixed_s
            + prompt_tokens * (self.prefill_s_per_token + prompt_tokens * self.prefill_s_per_token_sq)
            + self.decode_s_per_token * (1.0 + self.batch_slowdown * (batch - 1))
        )

    # --- built-in profiles -----------------------------------------------------------------------

    @classmethod
    def from_catalog(cls, model: str, gpu: str, gpus: int, check_memory: bool = True,
                     sample: int = 0) -> ServiceProfile:
        """The built-in profile of ``model`` on ``gpus`` GPUs of the catalog type ``gpu``.

        ``model`` is one of :data:`BUILTIN_MODELS`, or any model of the model catalog
        (``catalog/models.csv``), which gets a roofline profile (:func:`roofline_profile`);
        ``gpu`` is a catalog GPU name or alias (``"A100-80GB"``, ``"H100-SXM"``, ``"L4"``);
        ``gpus`` is the tensor-parallel degree. ``sample`` 0 is the point fit; ``sample`` k >= 1
        takes the k-th bootstrap sample of the fit instead (:func:`bootstrap_samples` of them),
        scaled the same way.

        The profile comes from the profiled hardware nearest to ``gpu`` (smallest
        ``|ln FP16-TFLOPS ratio| + |ln decode_speed ratio|``) at its profiled TP nearest to
        ``gpus`` (in ratio; ties to the smaller). Prefill is then scaled by the FP16-TFLOPS ratio
        and decode by the memory-bandwidth (``decode_speed``) ratio, and both by the TP ratio
        with :data:`TP_EFFICIENCY_PREFILL` and :data:`TP_EFFICIENCY_DECODE`. An exactly
        profiled shape returns the fitted constants unchanged.

        Raises:
            ValueError: unknown model or GPU, ``gpus`` < 1, or FP16 weights larger than
                :data:`MEMORY_UTILIZATION` of the replica's memory; the message lists the
                profiled models and shapes.
        """
        table = _builtin_table() if sample == 0 else _bootstrap_table(sample)
        key = model.strip().lower()
        if key in DERIVED_MODELS:
            return cls._derived(key, gpu, gpus, table)
        shapes = {shape: prof for shape, prof in table.items() if shape[0] == key}
        if not shapes and find_model(key) is not None:
            return roofline_profile(key, gpu, gpus, check_memory=check_memory, sample=sample)
        if not shapes:
            raise ValueError(
                f"serving profile: unknown model {model!r}; built-in models are "
                f"{', '.join(sorted({s[0] for s in table}))} ({_describe(table)}); "
                "or any model of swarmsim/catalog/models.csv (roofline profile); "
                "for another model construct ServiceProfile(...) with its own constants"
            )
        if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
            raise ValueError(f"serving profile: gpus: expected a whole number >= 1, got {gpus!r}")
        target = find_gpu(gpu)
        if target is None:
            raise ValueError(f"serving profile: unknown GPU {gpu!r}; see swarmsim/catalog/gpus.csv")
        need_gb = MODEL_WEIGHTS_GB.get(key, 0.0)
        have_gb = MEMORY_UTILIZATION * gpus * target.memory_gb
        if check_memory and have_gb < need_gb:
            raise ValueError(
                f"serving profile: {key} needs {need_gb:g} GB of FP16 weights but {gpus} x "
                f"{target.name} give {have_gb:g} GB at {MEMORY_UTILIZATION:g} utilization; "
                f"profiled shapes: {_describe(shapes)}"
            )

        hardware = sorted({s[1] for s in shapes}, key=lambda h: _spec_distance(target, _hardware_gpu(h)))[0]
        tps = sorted(s[2] for s in shapes if s[1] == hardware)
        tp_ref = min(tps, key=lambda t: (abs(math.log(gpus / t)), t))
        ref = shapes[(key, hardware, tp_ref)]
        ref_gpu = _hardware_gpu(hardware)
        if ref_gpu is target and tp_ref == gpus:
            return ref

        compute = ref_gpu.fp16_tflops / target.fp16_tflops
        bandwidth = ref_gpu.decode_speed / target.decode_speed
        prefill_factor = compute * _tp_time_factor(tp_ref, gpus, TP_EFFICIENCY_PREFILL)
        decode_factor = bandwidth * _tp_time_factor(tp_ref, gpus, TP_EFFICIENCY_DECODE)
        return cls(
            prefill_fixed_s=ref.prefill_fixed_s * prefill_factor,
            prefill_s_per_token=ref.prefill_s_per_token * prefill_factor,
            decode_s_per_token=ref.decode_s_per_token * decode_factor,
            batch_slowdown=ref.batch_slowdown,
            basis=(
                f"{ref.basis} scaled to {gpus} x {target.name}: prefill x{prefill_factor:.3g}, "
                f"decode x{decode_factor:.3g}"
            ),
        )

    @classmethod
    def _derived(cls, model: str, gpu: str, gpus: int,
                 table: dict[tuple[str, str, int], ServiceProfile]) -> ServiceProfile:
        base_model, ratio = DERIVED_MODELS[model]
        target = find_gpu(gpu)
        if target is None:
            raise ValueError(f"serving profile: unknown GPU {gpu!r}; see swarmsim/catalog/gpus.csv")
        need_gb = MODEL_WEIGHTS_GB[model]
        have_gb = MEMORY_UTILIZATION * gpus * target.memory_gb
        if have_gb < need_gb:
            raise ValueError(
                f"serving profile: {model} needs {need_gb:g} GB of FP16 weights but {gpus} x "
                f"{target.name} give {have_gb:g} GB at {MEMORY_UTILIZATION:g} utilization"
            )
        # The base model's measured times over their physical floors (FLOPs over peak compute
        # for prefill, weight bytes over memory bandwidth for decode) on its smallest profiled
        # A100 shape, applied to the floors of the smaller model on the target GPUs.
        shape = min((s for s in table if s[0] == base_model and s[1] == "a100-80gb"), key=lambda s: s[2])
        base, ref, tp = table[shape], _hardware_gpu(shape[1]), shape[2]
        weights_base = MODEL_WEIGHTS_GB[base_model] * 1e9
        prefill_floor = weights_base / (tp * ref.fp16_tflops * 1e12)  # 2 FLOP/param, 2 B/param
        decode_floor = weights_base / (tp * ref.mem_bw_tbps * 1e12)
        weights = need_gb * 1e9
        compute = gpus * target.fp16_tflops * 1e12  # FLOP/s
        bandwidth = gpus * target.mem_bw_tbps * 1e12  # B/s
        prefill_token = base.prefill_s_per_token / prefill_floor * weights / compute
        decode_token = base.decode_s_per_token / decode_floor * weights / bandwidth
        return cls(
            prefill_fixed_s=base.prefill_fixed_s * ratio,
            prefill_s_per_token=prefill_token,
            decode_s_per_token=decode_token,
            batch_slowdown=base.batch_slowdown,
            basis=(f"{model} on {gpus} x {target.name}, derived from {base.basis}: its measured/physical "
                   f"time ratios applied to {ratio:.3g} of its parameters (not measured)"),
        )

    @classmethod
    def for_replica(cls, replica: ReplicaShape, gpu: str, sample: int = 0) -> ServiceProfile:
        """The profile of a scenario replica on the catalog GPU ``gpu``.

        The built-in profile of ``replica.model`` on ``replica.gpus`` x ``gpu``
        (:meth:`from_catalog`), with each of the four constants that the replica sets (not None)
        replacing the built-in value as given, unscaled. A replica that sets all four needs no
        built-in model.

        Raises:
            ValueError: as :meth:`from_catalog`, when some constant is left to the built-in profile.
        """
        given = {name: getattr(replica, name) for name in _CONSTANTS if getattr(replica, name) is not None}
        if len(given) == len(_CONSTANTS):
            return cls(**given, basis=f"{replica.model}: explicit constants")
        try:
            base = cls.from_catalog(replica.model, gpu, replica.gpus, sample=sample)
        except ValueError as err:
            raise ValueError(f"{err}; or set all of {', '.join(_CONSTANTS)} on the replica") from None
        if not given:
            return base
        return replace(base, **given, basis=f"{base.basis}; explicit {', '.join(given)}")


def _tp_time_factor(tp_ref: int, tp: int, efficiency: float) -> float:
    """Time multiplier for moving from ``tp_ref`` to ``tp`` GPUs: speed changes by
    ``1 + efficiency * (ratio - 1)`` where ratio = larger / smaller TP."""
    ratio = max(tp, tp_ref) / min(tp, tp_ref)
    speedup = 1.0 + efficiency * (ratio - 1.0)
    return 1.0 / speedup if tp > tp_ref else speedup


def _spec_distance(a: GpuType, b: GpuType) -> float:
    return abs(math.log(a.fp16_tflops / b.fp16_tflops)) + abs(math.log(a.decode_speed / b.decode_speed))


def _hardware_gpu(hardware: str) -> GpuType:
    gpu = find_gpu(hardware)
    if gpu is None:  # pragma: no cover - guarded by the catalog aliases and a test
        raise ValueError(f"serving.csv: hardware {hardware!r} is not a catalog GPU name or alias")
    return gpu


def _describe(shapes: dict[tuple[str, str, int], ServiceProfile]) -> str:
    by: dict[tuple[str, str], list[int]] = defaultdict(list)
    for model, hardware, tp in sorted(shapes):
        by[(model, hardware)].append(tp)
    return "; ".join(f"{m} on {h} TP {'/'.join(map(str, tps))}" for (m, h), tps in by.items())


@cache
def _builtin_table() -> dict[tuple[str, str, int], ServiceProfile]:
    text = resources.files("swarmsim.catalog").joinpath("serving.csv").read_text(encoding="utf-8")
    table: dict[tuple[str, str, int], ServiceProfile] = {}
    for row in csv.DictReader(text.splitlines()):
        tp = int(row["tensor_parallel"])
        table[(row["model"], row["hardware"], tp)] = ServiceProfile(
            prefill_fixed_s=float(row["prefill_fixed_s"]),
            prefill_s_per_token=float(row["prefill_s_per_token"]),
            decode_s_per_token=float(row["decode_s_per_token"]),
            batch_slowdown=float(row["batch_slowdown"]),
            basis=f"{row['model']} on {row['hardware']} TP{tp} (Splitwise fit)",
        )
    return table


def profile_for_replica(replica: ReplicaShape, gpu: str, sample: int = 0) -> ServiceProfile:
    """The service profile of a scenario replica on the catalog GPU ``gpu``
    (:meth:`ServiceProfile.for_replica`); ``sample`` k >= 1 takes the k-th bootstrap sample of the
    fit instead of the point fit (:func:`draw_sample`)."""
    return ServiceProfile.for_replica(replica, gpu, sample=sample)


def draw_sample(replica: object, rng: np.random.Generator) -> int:
    """The bootstrap sample a run uses for ``replica``: 0 (the point fit) unless the replica sets
    ``profile_uncertainty``, else one uniform draw among 1..:func:`bootstrap_samples` from ``rng``
    (give it a fresh generator of one named stream per service, so that every GPU type of the
    service gets the same sample, one model error per run, and a seed reproduces it)."""
    if not getattr(replica, "profile_uncertainty", False):
        return 0
    return int(rng.integers(1, bootstrap_samples() + 1))


def roofline_profile(model: str, gpu: str, gpus: int, dtype: str = "fp16", check_memory: bool = True,
                     sample: int = 0) -> ServiceProfile:
    """Roofline profile of catalog ``model`` on ``gpus`` x ``gpu`` (:mod:`swarmsim.roofline`), with
    the efficiency factors of the profiled GPU nearest to ``gpu`` (``sample`` as in
    :meth:`ServiceProfile.from_catalog`). ``dtype`` sets the bytes of weights and KV cache.

    Raises:
        ValueError: unknown model or GPU, ``gpus`` < 1, or weights over
            :data:`MEMORY_UTILIZATION` of the replica's memory (when ``check_memory``).
    """
    spec, target = find_model(model), find_gpu(gpu)
    if spec is None:
        raise ValueError(f"serving profile: unknown model {model!r}; see swarmsim/catalog/models.csv")
    if target is None:
        raise ValueError(f"serving profile: unknown GPU {gpu!r}; see swarmsim/catalog/gpus.csv")
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ValueError(f"serving profile: gpus: expected a whole number >= 1, got {gpus!r}")
    need_gb = spec.weight_bytes(dtype) / 1e9
    have_gb = MEMORY_UTILIZATION * gpus * target.memory_gb
    if check_memory and have_gb < need_gb:
        raise ValueError(
            f"serving profile: {spec.name} needs {need_gb:.4g} GB of {dtype} weights but {gpus} x "
            f"{target.name} give {have_gb:g} GB at {MEMORY_UTILIZATION:g} utilization"
        )
    eff = roofline.efficiency_for(target, sample)
    constants = roofline.roofline_constants(spec, target, gpus, eff, dtype)
    return ServiceProfile(**constants, basis=(
        f"{spec.name} on {gpus} x {target.name} ({dtype}): roofline with the {eff.hardware} efficiency "
        f"factors fitted on Splitwise{f' (bootstrap sample {sample})' if sample else ''}"))


@cache
def bootstrap_samples() -> int:
    """Bootstrap samples stored per fitted profile (``catalog/serving_bootstrap.csv``)."""
    return max(int(row["sample"]) for row in _bootstrap_rows())


@cache
def _bootstrap_rows() -> list[dict[str, str]]:
    text = resources.files("swarmsim.catalog").joinpath("serving_bootstrap.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def _bootstrap_table(sample: int) -> dict[tuple[str, str, int], ServiceProfile]:
    """The built-in table with every fitted profile replaced by its bootstrap sample
    ``sample`` (1-based, cycling)."""
    k = (sample - 1) % bootstrap_samples() + 1
    table: dict[tuple[str, str, int], ServiceProfile] = {}
    for row in _bootstrap_rows():
        if int(row["sample"]) != k:
            continue
        tp = int(row["tensor_parallel"])
        table[(row["model"], row["hardware"], tp)] = ServiceProfile(
            **{c: float(row[c]) for c in _CONSTANTS},
            basis=f"{row['model']} on {row['hardware']} TP{tp} (Splitwise fit, bootstrap sample {k})",
        )
    return table


# --- fitting (offline: regenerates catalog/serving.csv) ----------------------------------------


def _relative_line_fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """Least squares of ``y ~ a + b x`` on relative residuals (weights 1/y), i.e. minimising
    sum(((a + b x - y) / y)**2). Returns (a, b, MAPE in percent)."""
    design = np.column_stack([np.ones_like(x), x]) / y[:, None]
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    mape = float(np.mean(np.abs(a + b * x - y) / y)) * 100.0
    return float(a), float(b), mape


def fit_profiles(perf_model_csv_path: str | Path) -> list[dict[str, Any]]:
    """Fit one profile per (model, hardware, tensor_parallel) of the Splitwise ``perf_model.csv``.

    For each combination with hardware in :data:`PROFILED_HARDWARE`:

    - rows whose ``e2e_time`` exceeds :data:`PREEMPTED_E2E_FACTOR` x (prompt_time +
      (token_size - 1) x token_time) are dropped (preempted runs);
    - prefill: ``prompt_time ~ a + b * prompt_size`` on the batch-1 rows (``prompt_time`` at
      batch b is the prefill of the whole batch, about b times longer, so other rows do not fit
      a per-request prefill);
    - decode: ``token_time ~ c + d * (batch_size - 1)`` on all kept rows, so
      ``decode_s_per_token = c`` and ``batch_slowdown = d / c``;

    both by least squares on relative residuals (weights 1/y), the least-squares analogue of the
    reported mean absolute percentage error. Times in the file are ms and become s.

    Returns:
        One dict per combination with the keys of :data:`PROFILE_COLUMNS`, sorted by model,
        hardware and TP; ``fit_mape_*`` are percent, ``rows`` counts the rows used.

    Raises:
        ValueError: the file lacks a column, or a fit gives a negative constant.
    """
    path = Path(perf_model_csv_path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"model", "hardware", "tensor_parallel", *_MEASURED} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        groups: dict[tuple[str, str, int], list[tuple[float, ...]]] = defaultdict(list)
        for row in reader:
            if row["hardware"] not in PROFILED_HARDWARE:
                continue
            key = (row["model"], row["hardware"], int(row["tensor_parallel"]))
            groups[key].append(tuple(float(row[c]) for c in _MEASURED))

    profiles: list[dict[str, Any]] = []
    for (model, hardware, tp), raw in sorted(groups.items()):
        data = np.array(raw)
        prompt, batch, tokens, prompt_ms, token_ms, e2e_ms = data.T
        kept = e2e_ms <= PREEMPTED_E2E_FACTOR * (prompt_ms + (tokens - 1) * token_ms)
        single = kept & (batch == 1)
        fixed_ms, per_token_ms, mape_prefill = _relative_line_fit(prompt[single], prompt_ms[single])
        tpot_ms, slope_ms, mape_decode = _relative_line_fit(batch[kept] - 1, token_ms[kept])
        name = f"{model}/{hardware}/TP{tp}"
        if min(fixed_ms, per_token_ms, tpot_ms, slope_ms) < 0:
            raise ValueError(f"{path}: {name}: the linear fit gives a negative constant")
        used, dropped = int(kept.sum()), len(raw) - int(kept.sum())
        profiles.append(
            {
                "model": model,
                "hardware": hardware,
                "tensor_parallel": tp,
                "prefill_fixed_s": fixed_ms / 1000.0,
                "prefill_s_per_token": per_token_ms / 1000.0,
                "decode_s_per_token": tpot_ms / 1000.0,
                "batch_slowdown": slope_ms / tpot_ms,
                "fit_mape_prefill": mape_prefill,
                "fit_mape_decode": mape_decode,
                "rows": used,
                "source": (
                    f"{_SOURCE}: prefill on {int(single.sum())} batch-1 rows, decode on {used} rows"
                    + (f", {dropped} preempted rows dropped" if dropped else "")
                    + "; relative least squares, ms -> s"
                ),
            }
        )
    return profiles


def write_profiles(profiles: list[dict[str, Any]], path: str | Path) -> None:
    """Write :func:`fit_profiles` output as ``catalog/serving.csv`` (floats to 10 significant
    digits, MAPE to 10 as well)."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(PROFILE_COLUMNS)
        for profile in profiles:
            writer.writerow(
                f"{profile[c]:.10g}" if isinstance(profile[c], float) else profile[c] for c in PROFILE_COLUMNS
            )

"""Roofline service profile of any catalog model on any catalog GPU at any tensor-parallel degree.

Per forward step of a replica of ``tp`` GPUs (docs/serving.md, "Any model on any GPU", gives the
sources)::

    prefill (one prompt of P tokens, compute-bound):
      t = L c_layer + P * F / (tp * peak * eta_prefill)            # matmuls, F = 2 x active params
            + 2 L P^2 heads head_dim / (tp * peak * eta_attention)  # causal attention
            + 2 L (tp - 1) * tau_prefill                         # all-reduce latency, 2 per layer
            + P * 4 L hidden * (tp - 1) / tp / link * k_link      # all-reduce bytes (ring)
    decode (one step, b requests of context C, memory-bound):
      t = W / (tp * bw * eta_mem)                                # all weights read once per step
            + b * C * kv / (tp * bw * eta_kv)                    # each request's KV read
            + b * F / (tp * peak * eta_compute)                  # each request's matmuls
            + L s_layer + 2 L (tp - 1) * tau_decode              # per-layer overhead, all-reduce latency

``W`` counts *every* expert of a mixture-of-experts model (a decode step of a batch touches all
of them), ``F`` only the active ones. The efficiency factors (``1 / eta`` >= 1, ``k_link`` >= 1,
and the per-layer overheads ``c_layer``, ``s_layer`` and latencies ``tau`` >= 0) are fitted per
profiled GPU (A100, H100) on the Splitwise rows by bounded least squares on relative residuals
(:func:`fit_efficiency`); other GPUs use the
factors of the profiled GPU nearest in spec. Plain numpy; no SimPy, no pandas.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.optimize import nnls

from swarmsim.catalog import GpuType, LlmModel, find_gpu, find_model

__all__ = [
    "CONTEXT_REF_TOKENS",
    "DECODE_TERMS",
    "LINK_GBPS",
    "PREFILL_TERMS",
    "Efficiency",
    "MeasuredRow",
    "decode_features",
    "efficiency_for",
    "fit_efficiency",
    "nearest_profiled",
    "prefill_features",
    "read_rows",
    "roofline_constants",
]

PREFILL_TERMS = ("inv_eta_prefill", "inv_eta_attention", "c_layer_s", "tau_prefill_s", "k_link")
"""Fitted prefill coefficients, in the column order of :func:`prefill_features`."""

DECODE_TERMS = ("inv_eta_mem", "inv_eta_kv", "inv_eta_compute", "s_layer_s", "tau_decode_s")
"""Fitted decode coefficients, in the column order of :func:`decode_features`."""

CONTEXT_REF_TOKENS = 1024
"""Context length, tokens, at which a roofline :class:`~swarmsim.serving.ServiceProfile` prices
each request's KV read (the profile's per-token time does not depend on the context)."""

LINK_GBPS = {
    "V100": 150.0, "A100-40GB": 300.0, "A100-80GB": 300.0, "H100-SXM": 450.0, "H200": 450.0,
    "B200": 900.0, "H100-PCIe": 64.0, "T4": 16.0,
}
"""GPU-to-GPU bandwidth per direction, GB/s, for the tensor-parallel all-reduce: NVLink 2/3/4/5
of the SXM parts (NVIDIA V100, A100, H100, H200, B200 datasheets: 300, 600, 900, 900, 1,800 GB/s
bidirectional), PCIe 5.0 x16 for H100-PCIe, PCIe 3.0 x16 for T4; any other GPU: PCIe 4.0 x16,
:data:`DEFAULT_LINK_GBPS`."""

DEFAULT_LINK_GBPS = 32.0
"""PCIe 4.0 x16 per direction, GB/s (L4, A10, A10G, L40S, RTX cards)."""

PROFILED = {"a100-80gb": "A100-80GB", "h100-80gb": "H100-SXM"}
"""Splitwise hardware name -> catalog GPU whose efficiency factors it measures."""


@dataclass(frozen=True)
class MeasuredRow:
    """One Splitwise measurement: shape, load and measured times (s)."""

    model: str
    hardware: str
    tp: int
    prompt: int
    batch: int
    tokens: int
    prompt_s: float
    token_s: float


@dataclass(frozen=True)
class Efficiency:
    """Fitted roofline coefficients of one profiled GPU (names in :data:`PREFILL_TERMS` and
    :data:`DECODE_TERMS`; ``inv_*`` are 1/efficiency, dimensionless; ``*_s`` are seconds;
    ``k_link`` multiplies the ideal all-reduce transfer time)."""

    hardware: str
    prefill: tuple[float, ...]
    decode: tuple[float, ...]

    def as_dict(self) -> dict[str, float]:
        """The coefficients by name."""
        return dict(zip(PREFILL_TERMS + DECODE_TERMS, self.prefill + self.decode, strict=True))


def _link_bps(gpu: GpuType) -> float:
    return LINK_GBPS.get(gpu.name, DEFAULT_LINK_GBPS) * 1e9


def _attention_flops(model: LlmModel) -> float:
    """Causal attention FLOPs per squared prompt token: ``2 L heads head_dim`` (scores and values,
    2 FLOP per multiply-add, halved by the causal mask)."""
    return 2.0 * model.layers * model.heads * model.head_dim


def prefill_features(model: LlmModel, gpu: GpuType, tp: int, prompt: npt.ArrayLike,
                     batch: npt.ArrayLike = 1) -> npt.NDArray[np.float64]:
    """Design matrix (rows x :data:`PREFILL_TERMS`) of the prefill time of ``batch`` prompts of
    ``prompt`` tokens, each prefilled on its own (Splitwise's ``prompt_time`` at batch b is about b
    single prefills, docs/serving.md)."""
    p = np.asarray(prompt, dtype=float)
    b = np.broadcast_to(np.asarray(batch, dtype=float), p.shape)
    peak = tp * gpu.fp16_tflops * 1e12
    compute = p * model.flops_per_token() / peak
    attention = p * p * _attention_flops(model) / peak
    latency = np.full_like(p, 2.0 * model.layers * (tp - 1))
    link = p * 4.0 * model.layers * model.hidden * (tp - 1) / tp / _link_bps(gpu)
    return b[:, None] * np.column_stack([compute, attention, np.full_like(p, model.layers), latency, link])


def decode_features(model: LlmModel, gpu: GpuType, tp: int, batch: npt.ArrayLike, context: npt.ArrayLike,
                    dtype: str = "fp16") -> npt.NDArray[np.float64]:
    """Design matrix (rows x :data:`DECODE_TERMS`) of one decode step of ``batch`` requests of
    mean context ``context`` tokens."""
    b = np.asarray(batch, dtype=float)
    c = np.broadcast_to(np.asarray(context, dtype=float), b.shape)
    bw = tp * gpu.mem_bw_tbps * 1e12
    peak = tp * gpu.fp16_tflops * 1e12
    weights = np.full_like(b, model.weight_bytes(dtype) / bw)
    kv = b * c * model.kv_bytes_per_token(dtype) / bw
    compute = b * model.flops_per_token() / peak
    latency = np.full_like(b, 2.0 * model.layers * (tp - 1))
    return np.column_stack([weights, kv, compute, np.full_like(b, model.layers), latency])


def _relative_nnls(design: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
                   floor: Sequence[float]) -> tuple[float, ...]:
    """Coefficients ``x >= floor`` minimising sum(((design @ x - y) / y)**2)."""
    low = np.asarray(floor, dtype=float)
    x, _ = nnls(design / y[:, None], 1.0 - (design @ low) / y)
    return tuple(float(v) for v in x + low)


PREFILL_FLOOR = (1.0, 1.0, 0.0, 0.0, 1.0)
"""Lower bounds of :data:`PREFILL_TERMS`: no efficiency above 1 (peak FLOPs, link bandwidth)."""

DECODE_FLOOR = (1.0, 1.0, 1.0, 0.0, 0.0)
"""Lower bounds of :data:`DECODE_TERMS`: no efficiency above 1 (peak bandwidth, peak FLOPs)."""


def _shape(row: MeasuredRow) -> tuple[LlmModel, GpuType]:
    model, gpu = find_model(row.model), find_gpu(PROFILED.get(row.hardware, row.hardware))
    if model is None or gpu is None:
        raise ValueError(f"roofline: {row.model!r} on {row.hardware!r} is not in the catalog")
    return model, gpu


def design(rows: Sequence[MeasuredRow]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Prefill and decode design matrices of ``rows`` (context = prompt + tokens / 2)."""
    pre, dec = [], []
    for r in rows:
        model, gpu = _shape(r)
        pre.append(prefill_features(model, gpu, r.tp, [r.prompt], [r.batch])[0])
        dec.append(decode_features(model, gpu, r.tp, [r.batch], [r.prompt + r.tokens / 2])[0])
    return np.array(pre), np.array(dec)


def fit_efficiency(hardware: str, rows: Sequence[MeasuredRow]) -> Efficiency:
    """Fit the coefficients of ``hardware`` on its ``rows`` (every model and TP degree): prefill on
    the batch-1 rows (a per-request prefill; docs/serving.md says why batched prompt rows are not
    used), decode on every row.

    Raises:
        ValueError: no batch-1 row (the prefill cannot be fitted) or no row at all.
    """
    single = [r for r in rows if r.batch == 1]
    if not single:
        raise ValueError(f"roofline: {hardware}: no batch-1 rows to fit the prefill on")
    pre, _ = design(single)
    _, dec = design(rows)
    prompt_s = np.array([r.prompt_s for r in single])
    token_s = np.array([r.token_s for r in rows])
    return Efficiency(hardware, _relative_nnls(pre, prompt_s, PREFILL_FLOOR),
                      _relative_nnls(dec, token_s, DECODE_FLOOR))


def predict(eff: Efficiency, rows: Sequence[MeasuredRow]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Predicted (prompt time, token time) of ``rows``, s, with the full roofline (the row's own
    context, not :data:`CONTEXT_REF_TOKENS`)."""
    pre, dec = design(rows)
    return pre @ np.array(eff.prefill), dec @ np.array(eff.decode)


def read_rows(path: str | Path, hardware: Iterable[str] = tuple(PROFILED),
              e2e_factor: float = 2.0) -> list[MeasuredRow]:
    """The kept rows of Splitwise ``perf_model.csv`` on ``hardware`` (ms -> s); rows whose e2e time
    exceeds ``e2e_factor`` x (prompt + (tokens - 1) x token time) are preempted runs and dropped."""
    wanted = set(hardware)
    out: list[MeasuredRow] = []
    with Path(path).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["hardware"] not in wanted:
                continue
            prompt_ms, token_ms, e2e_ms = (float(row[c]) for c in ("prompt_time", "token_time", "e2e_time"))
            tokens = int(row["token_size"])
            if e2e_ms > e2e_factor * (prompt_ms + (tokens - 1) * token_ms):
                continue
            out.append(MeasuredRow(row["model"], row["hardware"], int(row["tensor_parallel"]),
                                   int(row["prompt_size"]), int(row["batch_size"]), tokens,
                                   prompt_ms / 1000.0, token_ms / 1000.0))
    return out


def nearest_profiled(gpu: GpuType) -> str:
    """The Splitwise hardware whose catalog GPU is nearest to ``gpu`` in
    ``|ln FP16-TFLOPS ratio| + |ln bandwidth ratio|``."""
    def distance(hw: str) -> float:
        ref = find_gpu(PROFILED[hw])
        assert ref is not None
        return abs(math.log(gpu.fp16_tflops / ref.fp16_tflops)) + abs(math.log(gpu.mem_bw_tbps / ref.mem_bw_tbps))
    return min(sorted(PROFILED), key=distance)


@cache
def efficiency_table() -> dict[str, list[Efficiency]]:
    """``catalog/roofline.csv``: per hardware, the point fit (sample 0) then the bootstrap samples."""
    text = resources.files("swarmsim.catalog").joinpath("roofline.csv").read_text(encoding="utf-8")
    table: dict[str, list[Efficiency]] = {}
    for row in csv.DictReader(text.splitlines()):
        table.setdefault(row["hardware"], []).append(Efficiency(
            row["hardware"], tuple(float(row[t]) for t in PREFILL_TERMS), tuple(float(row[t]) for t in DECODE_TERMS)))
    return table


def efficiency_for(gpu: GpuType, sample: int = 0) -> Efficiency:
    """The fitted coefficients for ``gpu`` (of its nearest profiled GPU); ``sample`` 0 is the point
    fit, 1.. the bootstrap samples."""
    samples = efficiency_table()[nearest_profiled(gpu)]
    return samples[sample % len(samples)]


def roofline_constants(model: LlmModel, gpu: GpuType, tp: int, eff: Efficiency,
                       dtype: str = "fp16") -> dict[str, float]:
    """The five :class:`~swarmsim.serving.ServiceProfile` constants (s, s/token, s/token^2, s/token,
    dimensionless) of ``model`` on ``tp`` x ``gpu``; the KV read is priced at
    :data:`CONTEXT_REF_TOKENS`."""
    pre = np.array(eff.prefill)
    dec = np.array(eff.decode)
    at0, at1, at2 = (prefill_features(model, gpu, tp, [p])[0] @ pre for p in (0, 1, 2))
    quadratic = (at2 - 2 * at1 + at0) / 2.0
    one, two = (decode_features(model, gpu, tp, [b], [CONTEXT_REF_TOKENS], dtype)[0] @ dec for b in (1, 2))
    return {
        "prefill_fixed_s": float(at0),
        "prefill_s_per_token": float(at1 - at0 - quadratic),
        "prefill_s_per_token_sq": float(quadratic),
        "decode_s_per_token": float(one),
        "batch_slowdown": float((two - one) / one),
    }

"""KV-cache capacity of a serving replica, in tokens, from the model's architecture and the
GPU's memory (docs/serving.md, "KV-cache memory")::

    kv_tokens = floor((memory_gb x 1e9 x gpus x gpu_memory_utilization
                       - weight bytes - gpus x ACTIVATION_RESERVE_GB x 1e9) / KV bytes per token)

Weights and KV are FP16. A model that is not in the catalog (``catalog/models.csv``) has no
memory bound (``None``): only ``max_batch`` caps its batch, as before.
"""

from __future__ import annotations

import math

from swarmsim.catalog import find_gpu
from swarmsim.catalog.models import find_model

ACTIVATION_RESERVE_GB = 0.5
"""GB per GPU kept out of the KV cache for activations, the CUDA graphs and the non-torch
allocations. vLLM measures this with a profiling forward pass at start-up; 0.5 GB per GPU puts
llama2-70b on 2 x A100-80GB at 15.4 k tokens, the middle of the 4-6 GB (about 15 k tokens)
that reference §9.2 and the Splitwise TP-2 batch-64 preemptions imply (docs/serving.md)."""

GPU_MEMORY_UTILIZATION = 0.9
"""Share of GPU memory the engine may use (vLLM's ``gpu_memory_utilization`` default)."""


def kv_capacity_tokens(model: str, gpu: str, gpus: int, utilization: float = GPU_MEMORY_UTILIZATION,
                       reserve_gb: float = ACTIVATION_RESERVE_GB) -> int | None:
    """KV tokens a replica of ``model`` on ``gpus`` GPUs of catalog type ``gpu`` can cache, or
    None when the model is not in the catalog. Raises ValueError when the weights (plus the
    activation reserve) do not fit in ``utilization`` of the memory."""
    arch = find_model(model)
    if arch is None:
        return None
    gtype = find_gpu(gpu)
    if gtype is None:
        raise ValueError(f"unknown GPU {gpu!r}")
    budget = gtype.memory_gb * 1e9 * gpus * utilization
    weights = arch.weight_bytes("fp16")
    free = budget - weights - gpus * reserve_gb * 1e9
    per_token = arch.kv_bytes_per_token("fp16")
    if free < per_token:
        raise ValueError(
            f"the FP16 weights of {arch.name} ({weights / 1e9:.1f} GB) and the activation reserve "
            f"({gpus} x {reserve_gb} GB) do not fit in {utilization:g} x {gpus} x {gtype.memory_gb:g} GB "
            f"of {gtype.name}: use more GPUs (replica.gpus) or a larger GPU")
    return math.floor(free / per_token)


__all__ = ["ACTIVATION_RESERVE_GB", "GPU_MEMORY_UTILIZATION", "kv_capacity_tokens"]

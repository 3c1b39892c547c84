"""Open LLM architectures (``models.csv``): what a serving model needs to know about a model
to size its KV cache and its weights, and to bound its compute per token.

Every row cites the paper and the ``config.json`` the numbers come from (``docs/catalog.md``).
Lookups accept the canonical name (``llama2-70b``) or any alias (``meta-llama/Llama-2-70b-hf``),
case-insensitively.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

BYTES_PER_PARAM = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
"""Bytes per stored element of each serving dtype (weights or KV cache)."""


@dataclass(frozen=True)
class LlmModel:
    """One open model from ``models.csv``.

    Attributes:
        name: canonical id, e.g. ``"llama2-70b"``.
        aliases: other spellings (Hugging Face repository ids, paper names).
        layers: transformer blocks.
        hidden: model (embedding) dimension.
        heads: attention (query) heads.
        kv_heads: key/value heads (= ``heads`` for multi-head attention, fewer with GQA).
        head_dim: dimension of one attention head.
        kv_lora_rank: multi-head latent attention (DeepSeek MLA): the compressed KV dimension
            cached per token and layer, 0 when the model caches full keys and values.
        rope_head_dim: MLA's decoupled RoPE key dimension, cached beside the latent; 0 without MLA.
        intermediate: feed-forward inner dimension (of a dense layer).
        vocab: vocabulary size.
        params_b: all parameters, billions (what the weights occupy).
        active_params_b: parameters used per token, billions (= ``params_b`` for dense models;
            mixture-of-experts models use only the routed experts).
        experts: experts per MoE layer (1 for dense models).
        experts_active: experts used per token (1 for dense models).
        max_context: longest context the model was trained for, tokens.
        source: where the numbers come from.
    """

    name: str
    aliases: tuple[str, ...]
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    kv_lora_rank: int
    rope_head_dim: int
    intermediate: int
    vocab: int
    params_b: float
    active_params_b: float
    experts: int
    experts_active: int
    max_context: int
    source: str

    @property
    def moe(self) -> bool:
        """Whether only part of the weights work on each token."""
        return self.active_params_b < self.params_b

    def kv_elements_per_token(self) -> int:
        """Cached KV elements per token, over all layers: ``2 x kv_heads x head_dim`` per layer
        (a key and a value per KV head), or ``kv_lora_rank + rope_head_dim`` per layer with MLA."""
        per_layer = self.kv_lora_rank + self.rope_head_dim if self.kv_lora_rank else 2 * self.kv_heads * self.head_dim
        return self.layers * per_layer

    def kv_bytes_per_token(self, dtype: str = "fp16") -> float:
        """KV-cache bytes one token takes, over all layers, at ``dtype``."""
        return self.kv_elements_per_token() * BYTES_PER_PARAM[dtype]

    def weight_bytes(self, dtype: str = "fp16") -> float:
        """Bytes the weights occupy at ``dtype`` (all parameters, every expert)."""
        return self.params_b * 1e9 * BYTES_PER_PARAM[dtype]

    def flops_per_token(self) -> float:
        """Forward-pass FLOPs per token from the matrix multiplies, ``2 x active parameters``
        (attention over the context is extra, and grows with it)."""
        return 2.0 * self.active_params_b * 1e9


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


@cache
def llm_models() -> dict[str, LlmModel]:
    """Every model of ``models.csv`` by canonical name, in file order."""
    text = resources.files("swarmsim.catalog").joinpath("models.csv").read_text(encoding="utf-8")
    out: dict[str, LlmModel] = {}
    for row in csv.DictReader(text.splitlines()):
        ints = {k: int(row[k]) for k in ("layers", "hidden", "heads", "kv_heads", "head_dim", "kv_lora_rank",
                                         "rope_head_dim", "intermediate", "vocab", "experts", "experts_active",
                                         "max_context")}
        out[row["name"]] = LlmModel(
            name=row["name"], aliases=tuple(a for a in row["aliases"].split("|") if a),
            params_b=float(row["params_b"]), active_params_b=float(row["active_params_b"]),
            source=row["source"], **ints)
    return out


@cache
def _index() -> dict[str, LlmModel]:
    index: dict[str, LlmModel] = {}
    for model in llm_models().values():
        for name in (model.name, *model.aliases):
            index[_key(name)] = model
    return index


def find_model(name: str) -> LlmModel | None:
    """The model called ``name`` (canonical or alias, any case), or None."""
    return _index().get(_key(name))

"""The LLM architecture table: each row's parameter count follows from its shape, and the KV
sizes follow from the attention layout (MHA, GQA, MLA)."""

from __future__ import annotations

import pytest

from swarmsim import catalog
from swarmsim.catalog.models import LlmModel

#: Dense decoder-only models with the Llama layout: untied input and output embeddings,
#: q/k/v/o projections, a gated (SwiGLU) MLP of three matrices, no biases worth counting.
LLAMA_LAYOUT = ["llama2-7b", "llama2-13b", "llama2-70b", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b",
                "mistral-7b", "qwen2.5-72b"]


def llama_params(m: LlmModel, experts: int) -> float:
    attention = m.hidden * m.heads * m.head_dim * 2 + m.hidden * m.kv_heads * m.head_dim * 2
    mlp = 3 * m.hidden * m.intermediate * experts
    return m.layers * (attention + mlp) + 2 * m.vocab * m.hidden


@pytest.mark.parametrize("name", LLAMA_LAYOUT)
def test_parameter_count_follows_from_the_shape(name: str) -> None:
    m = catalog.find_model(name)
    assert m is not None and not m.moe
    assert llama_params(m, 1) / 1e9 == pytest.approx(m.params_b, rel=0.015)


def test_mixtral_total_and_active_parameters_follow_from_its_experts() -> None:
    m = catalog.find_model("mixtral-8x7b")
    assert m is not None and m.moe
    assert llama_params(m, m.experts) / 1e9 == pytest.approx(m.params_b, rel=0.015)
    assert llama_params(m, m.experts_active) / 1e9 == pytest.approx(m.active_params_b, rel=0.015)


def test_kv_bytes_per_token_by_attention_layout() -> None:
    # GQA: 80 layers x (key + value) x 8 KV heads x 128 dims x 2 bytes.
    assert catalog.find_model("llama2-70b").kv_bytes_per_token() == 80 * 2 * 8 * 128 * 2 == 327_680
    # MHA: every query head has its own KV head.
    assert catalog.find_model("llama2-7b").kv_bytes_per_token() == 32 * 2 * 32 * 128 * 2
    # MLA caches a 512-dim latent plus a 64-dim RoPE key per layer, not per head.
    v3 = catalog.find_model("deepseek-v3")
    assert v3.kv_bytes_per_token("fp16") == 61 * (512 + 64) * 2
    assert v3.kv_bytes_per_token("fp8") == 61 * (512 + 64)


def test_llama2_70b_on_two_a100_leaves_little_room_for_kv() -> None:
    # The sizing fact behind KV-bounded batching: 2 x 80 GB x 0.9 minus fp16 weights.
    m = catalog.find_model("llama2-70b")
    free = 2 * 80e9 * 0.9 - m.weight_bytes("fp16")
    tokens = free / m.kv_bytes_per_token("fp16")
    assert 10_000 < tokens < 60_000


def test_lookup_by_alias_any_case() -> None:
    assert catalog.find_model("meta-llama/Llama-2-70b-hf").name == "llama2-70b"
    assert catalog.find_model("LLAMA2-70B").name == "llama2-70b"
    assert catalog.find_model("gpt-5") is None
    assert list(catalog.llm_models())[:3] == ["llama2-7b", "llama2-13b", "llama2-70b"]
    assert all(m.source for m in catalog.llm_models().values())

"""Prefix caching by block hash (Mooncake's ``hash_ids``; swarmsim/world/prefix_blocks.py,
docs/serving.md "Prefix caching from block hashes"): the reader carries the hashes, a replica's
LRU cache bounded by its KV capacity reuses leading blocks, and the hit rate is what a hand
computation gives."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

import swarmsim
from swarmsim.traces import BadRows
from swarmsim.traces.mooncake import MOONCAKE_BLOCK_TOKENS, read_mooncake
from swarmsim.world.prefix_blocks import BlockCache

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SWARMSIM_DATA", ROOT.parent / "shared" / "data"))
CONVERSATION = DATA / "mooncake" / "conversation_trace.jsonl"


def _trace(path: Path, rows: list[tuple[int, int, list[int]]]) -> Path:
    """A Mooncake file: (timestamp ms, input_length, hash_ids), two output tokens each."""
    with path.open("w") as f:
        for t, prompt, hashes in rows:
            f.write(json.dumps({"timestamp": t, "input_length": prompt, "output_length": 2, "hash_ids": hashes}) + "\n")
    return path


def _scenario(trace: Path, caching: bool = True) -> dict:
    """One llama2-7b replica on one L4 (14,533 KV tokens: 28 blocks of 512), no warm-up."""
    return {
        "name": "prefix-blocks", "seed": 1, "horizon": "20m", "warmup": 0, "sample_every": "1m",
        "regions": {"us-east": {}}, "node_types": {"l4": {"gpu": "L4", "gpus": 1}}, "fleet": {"us-east": {"l4": 1}},
        "workloads": {"chat": {
            "kind": "inference", "origin": {"us-east": 1.0}, "replicas": {"us-east": 1},
            "trace": {"format": "mooncake", "path": str(trace)},
            "replica": {"gpu": "L4", "gpus": 1, "model": "llama2-7b", "max_batch": 8, "batching": "iteration",
                        "prefix_caching": caching},
        }},
    }


def test_reader_carries_hash_ids(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.jsonl", [(0, 1024, [0, 1]), (5, 600, [0, 3])])
    (rows,) = list(read_mooncake(str(path), BadRows("error", file="t.jsonl")))
    assert list(rows.blocks) == [(0, 1), (0, 3)]
    assert MOONCAKE_BLOCK_TOKENS == 512


def test_bad_hash_ids_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [0, "x"]}\n'
                    '{"timestamp": 1, "input_length": 10, "output_length": 2, "hash_ids": [0]}\n')
    bad = BadRows("skip", file="t.jsonl")
    (rows,) = list(read_mooncake(str(path), bad))
    assert list(rows.blocks) == [(0,)]
    assert bad.total == 1 and "hash_ids" in str(dict(bad.skipped))


def test_hit_rate_by_hand(tmp_path: Path) -> None:
    """Five requests, one replica (so admission order is arrival order), 512-token blocks:
    0 (cold) + 1,024 (blocks 0, 1) + 512 (block 0) + 511 (block 0 covers the whole 512-token
    prompt: one token is prefilled) + 0 (its first block, 5, is new; block 1 later in the list
    does not count) = 2,047 of 4,672 prompt tokens."""
    path = _trace(tmp_path / "t.jsonl", [(0, 1024, [0, 1]), (100_000, 1536, [0, 1, 2]), (200_000, 600, [0, 3]),
                                         (300_000, 512, [0]), (400_000, 1000, [5, 1])])
    res = swarmsim.simulate(_scenario(path))
    assert res.summary["requests_completed"] == 5
    assert math.isclose(res.summary["prefix_cache_hit_rate"], 2047 / 4672, rel_tol=1e-12)
    off = swarmsim.simulate(_scenario(path, caching=False))
    assert "prefix_cache_hit_rate" not in off.summary
    # a hit is not prefilled: the same requests finish sooner with the cache (prefill ~ tokens)
    assert res.requests["service_s"].sum() < off.requests["service_s"].sum()


def test_lru_eviction_keeps_prefixes(tmp_path: Path) -> None:
    """28 blocks fit. Three 10-block prompts (0-9, 100-109, 200-209) insert 30: the two least
    recently used go, and of one prompt the last blocks are the older (8 and 9), so 0-7 stay.
    Prompt 0-9 again hits 8 blocks (4,096 tokens) and evicts 108, 109; prompt 100-109 again hits
    100-107: 8,192 of 5 x 5,120 tokens, 0.32. (Evicting first blocks first would give 0.)"""
    rows = [(0, 5120, list(range(10))), (100_000, 5120, list(range(100, 110))),
            (200_000, 5120, list(range(200, 210))), (300_000, 5120, list(range(10))),
            (400_000, 5120, list(range(100, 110)))]
    res = swarmsim.simulate(_scenario(_trace(tmp_path / "t.jsonl", rows)))
    assert res.summary["requests_completed"] == 5
    assert math.isclose(res.summary["prefix_cache_hit_rate"], 8192 / 25600, rel_tol=1e-12)


def test_block_cache_unit() -> None:
    cache = BlockCache(3, 512)
    assert cache.hit_tokens((1, 2), 2000) == 0
    cache.admit((1, 2))
    assert cache.hit_tokens((1, 2, 3), 2000) == 1024 and cache.hit_tokens((2,), 2000) == 512
    assert cache.hit_tokens((1, 2), 700) == 699  # at least one token is prefilled
    cache.admit((7, 8))  # 4 blocks > 3: the oldest, 2 (the tail of the first prompt), goes
    assert set(cache.blocks) == {1, 7, 8}
    assert cache.matched((1, 2)) == 1


@pytest.mark.skipif(not CONVERSATION.is_file(), reason="needs shared/data/mooncake (swarmsim data fetch)")
def test_real_conversation_trace_hit_rate() -> None:
    """The scenario's first 10 minutes: the per-replica hit rate lies between 0 and the trace's
    infinite single-cache bound over the same requests (computed here from the file)."""
    res = swarmsim.simulate(ROOT / "scenarios" / "inference-mooncake-prefix.yaml",
                            {"horizon": "70m"})  # the trace starts at the 1 h warm-up
    seen: set[int] = set()
    hit = total = 0
    with CONVERSATION.open() as f:
        for line in f:
            r = json.loads(line)
            if r["timestamp"] >= 600_000:
                break
            m = 0
            for h in r["hash_ids"]:
                if h not in seen:
                    break
                m += 1
            hit += max(0, min(m * 512, r["input_length"] - 1))
            total += r["input_length"]
            seen.update(r["hash_ids"])
    rate = res.summary["prefix_cache_hit_rate"]
    assert 0.05 < rate <= hit / total + 1e-12

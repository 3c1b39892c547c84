"""A replica's prefix cache keyed by block hash (``replica.prefix_caching`` on a trace that
carries prompt block hashes, such as Mooncake's ``hash_ids``; docs/serving.md, "Prefix caching
from block hashes").

A prompt is a run of blocks of ``block_tokens`` tokens (512 in Mooncake's traces), each named
by a hash of itself and every block before it, so two prompts share their KV exactly as far as
their hash lists agree from the start. The cache holds at most ``capacity`` blocks (the
replica's KV capacity in whole blocks) in least-recently-used order:

- **hit** of a request = the leading blocks of its hash list that are cached (it stops at the
  first block that is not), in tokens ``min(blocks x block_tokens, prompt - 1)``: at least one
  prompt token is prefilled, to make the first output token (vLLM recomputes the last token of
  a fully cached prompt);
- **admission** makes the request's blocks the most recently used (the hit ones touched, the
  others inserted), its first block the most recent of them, and evicts the least recently used
  blocks beyond ``capacity``: of one prompt the last blocks go first, so what stays is a prefix
  (vLLM's order of eviction).

Cached blocks are a record of what the replica has computed; the KV memory bound of running
requests is the engine's (a request holds its whole prompt's KV while it runs).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


class BlockCache:
    """Least-recently-used set of prompt block hashes (see the module docstring)."""

    __slots__ = ("block_tokens", "blocks", "capacity")

    def __init__(self, capacity: float, block_tokens: int) -> None:
        self.capacity = capacity  # blocks (math.inf: no bound)
        self.block_tokens = block_tokens  # tokens per block
        self.blocks: OrderedDict[int, None] = OrderedDict()  # oldest first

    def matched(self, hashes: Sequence[int]) -> int:
        """Leading blocks of ``hashes`` that are cached."""
        blocks = self.blocks
        n = 0
        for h in hashes:
            if h not in blocks:
                break
            n += 1
        return n

    def hit_tokens(self, hashes: Sequence[int], prompt: int) -> int:
        """Prompt tokens a request would not prefill: its cached leading blocks, at most ``prompt - 1``."""
        return max(0, min(self.matched(hashes) * self.block_tokens, prompt - 1))

    def admit(self, hashes: Sequence[int]) -> None:
        """A request's prompt is (being) computed here: its blocks become the most recent."""
        blocks = self.blocks
        for h in reversed(hashes):
            if h in blocks:
                blocks.move_to_end(h)
            else:
                blocks[h] = None
        while len(blocks) > self.capacity:
            blocks.popitem(last=False)


__all__ = ["BlockCache"]

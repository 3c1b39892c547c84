"""Named random streams spawned from one seed.

Each stream is ``SeedSequence(entropy=seed, spawn_key=stream_key(name))`` driving a
PCG64DXSM generator. The key is a SHA-256 digest of the name, never Python's ``hash``,
so a stream is the same in every process and Python version, and adding or using a
stream never shifts another (common random numbers across configurations).
"""

from __future__ import annotations

import hashlib
import operator

import numpy as np

__all__ = ["Streams", "stream_key"]


def stream_key(name: str) -> tuple[int, ...]:
    """Four uint32 words: the first 16 bytes of SHA-256(UTF-8 name), little-endian each."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a stream name is a non-empty string, got {name!r}")
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


class Streams:
    """Named numpy Generators spawned from one seed: ``Streams(7).get("arrivals/training")``.

    A run owns one ``Streams``; nothing here touches numpy's global state.
    """

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool):
            raise TypeError(f"seed must be a non-negative integer, got {seed!r}")
        seed = operator.index(seed)
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.seed: int = seed
        self._cache: dict[str, np.random.Generator] = {}

    def get(self, name: str) -> np.random.Generator:
        """The generator of stream ``name``; the same object on every call (its state moves on)."""
        generator = self._cache.get(name)
        if generator is None:
            generator = self._cache[name] = self.fresh(name)
        return generator

    def fresh(self, name: str) -> np.random.Generator:
        """A new generator at the start of stream ``name``, independent of ``get(name)``."""
        sequence = np.random.SeedSequence(entropy=self.seed, spawn_key=stream_key(name))
        return np.random.Generator(np.random.PCG64DXSM(sequence))

    def __repr__(self) -> str:
        return f"Streams(seed={self.seed})"

"""Named random streams: reproducible, independent of each other, stable across processes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from swarmsim.rng import Streams, stream_key

NAME = "arrivals/training"


def _draws(generator: np.random.Generator) -> list[int]:
    # random_raw depends only on the seed sequence and the bit generator, not on the
    # numpy version's sampling algorithms, so it pins the stream itself.
    return generator.bit_generator.random_raw(5).tolist()


def test_stream_key_is_sha256_words() -> None:
    digest = hashlib.sha256(NAME.encode("utf-8")).digest()
    by_hand = tuple(int.from_bytes(digest[i : i + 4], "little") for i in (0, 4, 8, 12))
    assert stream_key(NAME) == by_hand
    assert stream_key(NAME) == (690413675, 2857022172, 2771423544, 3336041411)
    assert all(0 <= word < 2**32 for word in stream_key("provision/eu-west/a100x8"))
    assert stream_key("durée/é") == tuple(
        int.from_bytes(hashlib.sha256("durée/é".encode()).digest()[i : i + 4], "little")
        for i in (0, 4, 8, 12)
    )


def test_stream_is_pinned() -> None:
    # Computed once; a change here silently changes every published result.
    first = Streams(7).fresh(NAME).bit_generator.random_raw(3).tolist()
    assert first == [1434888714352643366, 12185916105042147816, 12359557743001808149]


def test_same_seed_and_name_give_identical_draws() -> None:
    a, b = Streams(7), Streams(7)
    assert _draws(a.get(NAME)) == _draws(b.get(NAME))
    np.testing.assert_array_equal(a.get("x").normal(size=10), b.get("x").normal(size=10))


def test_different_names_or_seeds_give_different_draws() -> None:
    streams = Streams(7)
    assert _draws(streams.fresh("arrivals/training")) != _draws(streams.fresh("arrivals/chat"))
    assert _draws(Streams(7).fresh(NAME)) != _draws(Streams(8).fresh(NAME))


def test_other_streams_never_shift_a_stream() -> None:
    alone = Streams(7)
    expected = _draws(alone.get(NAME))

    busy = Streams(7)
    for other in ["origin/training", "gpus/training", "provision/us-east/a100x8"]:
        busy.get(other).random(1000)
    busy.fresh("duration/training").random(10)
    assert _draws(busy.get(NAME)) == expected


def test_get_is_cached_and_moves_on() -> None:
    streams = Streams(7)
    generator = streams.get(NAME)
    assert streams.get(NAME) is generator
    first = _draws(streams.get(NAME))
    assert _draws(streams.get(NAME)) != first  # the same generator, further along


def test_fresh_starts_at_the_beginning() -> None:
    streams = Streams(7)
    start = _draws(Streams(7).get(NAME))
    streams.get(NAME).random(100)  # advance the cached generator
    fresh = streams.fresh(NAME)
    assert fresh is not streams.get(NAME)
    assert _draws(fresh) == start
    assert _draws(streams.fresh(NAME)) == start


def test_stable_across_processes_with_different_hash_seeds() -> None:
    code = (
        "from swarmsim.rng import Streams;"
        f"print(Streams(7).fresh({NAME!r}).bit_generator.random_raw(3).tolist())"
    )
    expected = str(Streams(7).fresh(NAME).bit_generator.random_raw(3).tolist())
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": os.pathsep.join(sys.path)}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected


def test_seed_is_kept_and_checked() -> None:
    assert Streams(7).seed == 7
    assert Streams(np.int64(7)).seed == 7
    assert _draws(Streams(np.int64(7)).get(NAME)) == _draws(Streams(7).get(NAME))
    assert _draws(Streams(2**70).get(NAME)) != _draws(Streams(7).get(NAME))
    with pytest.raises(ValueError, match="non-negative"):
        Streams(-1)
    for bad in (True, 1.5, "7"):
        with pytest.raises(TypeError):
            Streams(bad)  # type: ignore[arg-type]


def test_stream_names_are_checked() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Streams(7).get("")

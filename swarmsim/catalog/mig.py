"""NVIDIA Multi-Instance GPU profiles (``mig.csv``): per MIG-capable GPU, each GPU-instance
profile's compute and memory slices, its valid placements and its speed.

A MIG GPU has 7 compute slices and 8 memory slices. A GPU instance of a profile occupies
``memory_slices`` consecutive memory slices starting at one of its ``starts`` (NVML's
``nvmlGpuInstancePlacement_t``: start = index of the first occupied memory slice, size = number
occupied); two instances may not share a memory slice. Every row cites the NVIDIA MIG User
Guide for the placements and says how its speed was derived (``docs/catalog.md``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

COMPUTE_SLICES = 7
"""Compute slices of a MIG GPU (A100, H100)."""

MEMORY_SLICES = 8
"""Memory slices of a MIG GPU (A100, H100)."""


@dataclass(frozen=True)
class MigProfile:
    """One GPU-instance profile of one GPU model.

    Attributes:
        gpu: catalog GPU name (``A100-80GB``).
        name: NVIDIA's profile name (``3g.40gb``).
        compute_slices: compute slices (of 7) the instance holds.
        memory_slices: memory slices (of 8) it occupies.
        memory_gb: its memory, GB.
        starts: the memory slices an instance may start at (valid placements).
        speed: throughput as a fraction of the whole GPU's (dimensionless, the whole GPU = 1):
            the profile's SMs over the GPU's when both are published, else
            ``compute_slices / 7`` (both assumptions, see ``speed_source``).
        placement_source: where the placements come from.
        speed_source: where the speed comes from.
    """

    gpu: str
    name: str
    compute_slices: int
    memory_slices: int
    memory_gb: float
    starts: tuple[int, ...]
    speed: float
    placement_source: str
    speed_source: str

    def mask(self, start: int) -> int:
        """Bit mask of the memory slices an instance starting at ``start`` occupies."""
        return ((1 << self.memory_slices) - 1) << start


@cache
def _profiles() -> dict[str, tuple[MigProfile, ...]]:
    text = resources.files("swarmsim.catalog").joinpath("mig.csv").read_text(encoding="utf-8")
    out: dict[str, list[MigProfile]] = {}
    for row in csv.DictReader(text.splitlines()):
        slices = int(row["compute_slices"])
        sms, gpu_sms = row["sms"], row["gpu_sms"]
        speed = int(sms) / int(gpu_sms) if sms and gpu_sms else slices / COMPUTE_SLICES
        out.setdefault(row["gpu"], []).append(MigProfile(
            gpu=row["gpu"], name=row["profile"], compute_slices=slices, memory_slices=int(row["memory_slices"]),
            memory_gb=float(row["memory_gb"]), starts=tuple(int(s) for s in row["starts"].split("|")),
            speed=speed, placement_source=row["placement_source"], speed_source=row["speed_source"]))
    return {gpu: tuple(rows) for gpu, rows in out.items()}


def mig_profiles(gpu: str) -> tuple[MigProfile, ...]:
    """The MIG profiles of a catalog GPU (canonical name), smallest first; () without MIG."""
    return _profiles().get(gpu, ())


def mig_gpus() -> tuple[str, ...]:
    """The catalog GPUs with MIG, in file order."""
    return tuple(_profiles())

"""Replay of a recorded trace as a workload's arrivals: window, time scale, sample, scale,
origin assignment and GPU mapping, streamed chunk by chunk (docs/traces.md).

A trace row becomes one arrival (or several, with ``scale``), at
``offset + (submit - window start) x time_scale`` simulated seconds. Rows are read lazily: the
replay stops reading at the first row past the horizon or the window's end, and holds no more
than one chunk of rows (plus the jittered copies that spill into the next chunk).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np

from swarmsim import catalog
from swarmsim.rng import Streams
from swarmsim.scenario import InferenceWorkloadSpec, JobsWorkloadSpec, Scenario, TraceSpec
from swarmsim.traces import CHUNK_ROWS, BadRows, JobRows, RequestRows, TraceError
from swarmsim.traces.formats import FORMATS


def trace_path(spec: TraceSpec, scenario: Scenario) -> str:
    """The trace file, relative paths resolved against the scenario's folder."""
    path = Path(spec.path)
    if not path.is_absolute() and scenario.source:
        path = Path(scenario.source).parent / path
    return str(path)


def read_rows(spec: TraceSpec, scenario: Scenario, bad: BadRows) -> Iterator[JobRows | RequestRows]:
    """The trace's rows, in chunks, as its format reads them."""
    path = trace_path(spec, scenario)
    bad.file = path
    if spec.format == "csv":
        from swarmsim.traces.jobs import read_csv_jobs

        yield from read_csv_jobs(path, bad, CHUNK_ROWS, spec.columns, spec.time_unit)
        return
    yield from FORMATS[spec.format].read(path, bad, CHUNK_ROWS)  # type: ignore[misc]  # yield from a Reader: a Generator at run time, declared Iterator


def replayed(
    name: str,
    work: JobsWorkloadSpec | InferenceWorkloadSpec,
    scenario: Scenario,
    streams: Streams,
    bad: BadRows,
) -> Iterator[dict[str, np.ndarray]]:
    """Chunks of arrivals in non-decreasing time order up to the horizon: ``time`` (s),
    ``origin`` (region index), ``line`` (source line) and the row's own columns (jobs: ``gpus``,
    ``duration_s``, ``gpu_model``; requests: ``prompt_tokens``, ``output_tokens``)."""
    spec = work.trace
    assert spec is not None
    region_names = list(scenario.regions)
    origins = list(work.origin)
    cdf = np.cumsum([work.origin[o] for o in origins])
    cdf[-1] = 1.0
    origin_index = np.array([region_names.index(o) for o in origins])
    rng_keep = streams.get(f"trace-sample/{name}")
    rng_copy = streams.get(f"trace-scale/{name}")
    rng_origin = streams.get(f"origin/{name}")
    horizon = scenario.horizon
    t0: float | None = spec.start
    carry: dict[str, np.ndarray] | None = None  # jittered copies that may interleave with the next chunk
    last_t = -math.inf
    for rows in read_rows(spec, scenario, bad):
        fields = _FIELDS[type(rows)]
        if getattr(rows, "blocks", None) is not None:
            fields = (*fields, "blocks")  # prompt block hashes (prefix caching)
        submit = rows.submit_s
        if len(submit) and np.isnan(submit).all():
            raise TraceError(bad.file, None, None, f"format {spec.format} has no submit times: it cannot be "
                             "replayed (swarmsim trace inspect and fit can still read it)")
        keep = ~np.isnan(submit)
        if isinstance(rows, JobRows):
            keep &= rows.gpus > 0  # CPU-only rows (e.g. CPU pods of a GPU cluster) are not GPU work
        if spec.start is not None:
            keep &= submit >= spec.start
        ended = False
        if spec.end is not None:
            past = submit >= spec.end
            ended = bool(past.any())
            keep &= ~past
        if t0 is None and keep.any():
            t0 = float(submit[keep].min())
        if spec.sample < 1.0:
            keep &= rng_keep.random(len(submit)) < spec.sample
        idx = np.nonzero(keep)[0]
        times = spec.offset + (submit[idx] - (t0 or 0.0)) * spec.time_scale
        bound = float(times.max()) if len(times) else -math.inf
        # Load scaling: floor(scale) copies of every row, one more with the fractional chance;
        # copies after the first move later by up to ``jitter`` seconds.
        copies = np.full(len(idx), int(spec.scale))
        frac = spec.scale - int(spec.scale)
        if frac > 0:
            copies = copies + (rng_copy.random(len(idx)) < frac)
        rep = np.repeat(idx, copies)
        rep_times = np.repeat(times, copies)
        if spec.scale > 1.0 and len(rep):
            first = np.zeros(len(rep), dtype=bool)
            first[(np.cumsum(copies) - copies)[copies > 0]] = True
            rep_times = rep_times + np.where(first, 0.0, rng_copy.random(len(rep)) * spec.jitter)
        origin = _origins(spec, rows, rep, region_names, origin_index, cdf, rng_origin, bad)
        valid = origin >= 0
        batch = {"time": rep_times[valid], "origin": origin[valid], "line": rows.line[rep[valid]]}
        batch.update({f: getattr(rows, f)[rep[valid]] for f in fields})
        if carry is not None:
            batch = {k: np.concatenate([carry[k], batch[k]]) for k in batch}
        order = np.argsort(batch["time"], kind="stable")
        batch = {k: v[order] for k, v in batch.items()}
        hold = (batch["time"] > bound) if not ended else np.zeros(len(order), dtype=bool)
        carry = {k: v[hold] for k, v in batch.items()} if hold.any() else None
        last_t = yield from _emit({k: v[~hold] for k, v in batch.items()}, horizon, last_t, bad)
        if ended or bound >= horizon:
            carry = None
            break
    if carry is not None:
        yield from _emit(carry, horizon, last_t, bad)


_FIELDS = {JobRows: ("gpus", "duration_s", "gpu_model"), RequestRows: ("prompt_tokens", "output_tokens")}


def _emit(batch: dict[str, np.ndarray], horizon: float, last_t: float,
          bad: BadRows) -> Generator[dict[str, np.ndarray], None, float]:
    """Yield the arrivals before the horizon, checking that time never goes back; return the
    last time yielded (a generator's return value, for ``yield from``)."""
    inside = batch["time"] < horizon
    batch = {k: v[inside] for k, v in batch.items()}
    times = batch["time"]
    if len(times):
        if times[0] < last_t - 1e-9:
            raise TraceError(bad.file, int(batch["line"][0]), None,
                             "rows are not in order of submit time (replay reads traces as they are sorted)")
        yield batch
        return float(times[-1])
    return last_t


def _origins(spec: TraceSpec, rows: JobRows | RequestRows, rep: np.ndarray, region_names: list[str],
             origin_index: np.ndarray, cdf: np.ndarray, rng: np.random.Generator, bad: BadRows) -> np.ndarray:
    if spec.region_by == "weights":
        return origin_index[np.searchsorted(cdf, rng.random(len(rep)), side="right")]
    groups = rows.group[rep]
    if spec.region_by == "hash":
        u = np.array([_unit_hash(str(g)) for g in groups])
        return origin_index[np.searchsorted(cdf, u, side="right")]
    out = np.full(len(rep), -1)
    for i, g in enumerate(groups):
        if g in region_names:
            out[i] = region_names.index(g)
        else:
            bad.bad(int(rows.line[rep[i]]), "group", f"{g!r} is not a region of the scenario")
    return out


def _unit_hash(text: str) -> float:
    """A stable number in [0, 1) from a string (SHA-256; the same in every process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") / 2.0**64


def mapped_gpu(model: str, spec: TraceSpec) -> str | None:
    """The catalog GPU a traced model maps to through ``gpu_map``: the whole string, else the
    first of its ``|``-separated alternatives that the map knows (None when unmapped)."""
    gpu = spec.gpu_map.get(model)
    if gpu is None and "|" in model:
        gpu = next((spec.gpu_map[m] for m in model.split("|") if m in spec.gpu_map), None)
    return gpu


def gpu_speed(model: str, spec: TraceSpec) -> float | None:
    """Training speed of a traced GPU model through the gpu_map (None when unmapped)."""
    gpu = mapped_gpu(model, spec)
    return catalog.find_gpu(gpu).train_speed if gpu else None  # type: ignore[union-attr]  # gpu_map values are validated catalog GPUs

"""Offline fits on the Splitwise measurements: the bootstrap uncertainty of the built-in
profiles, the roofline efficiency factors, and the split-half fidelity check (docs/serving.md).

Regenerate the two committed tables with :func:`write_tables`::

    python -c "from swarmsim.serving_fit import write_tables; \\
    write_tables('../shared/data/splitwise-perf-model/perf_model.csv')"
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from swarmsim import roofline
from swarmsim.catalog import find_gpu, find_model
from swarmsim.rng import Streams
from swarmsim.roofline import DECODE_TERMS, PREFILL_TERMS, Efficiency, MeasuredRow
from swarmsim.serving import ServiceProfile, _relative_line_fit

__all__ = [
    "BOOTSTRAP_SAMPLES",
    "BOOTSTRAP_SEED",
    "SPLIT_SEED",
    "bootstrap_profiles",
    "fit_roofline_table",
    "split_half",
    "write_tables",
]

BOOTSTRAP_SEED = 15
"""Seed of the bootstrap resamples (stream ``serving-bootstrap/<shape>`` of :class:`Streams`)."""

BOOTSTRAP_SAMPLES = 64
"""Bootstrap samples per fitted profile and per roofline hardware."""

SPLIT_SEED = 15
"""Seed of the split-half fidelity check (stream ``serving-split-half``)."""

_CONSTANTS = ("prefill_fixed_s", "prefill_s_per_token", "decode_s_per_token", "batch_slowdown")


def _line_constants(rows: Sequence[MeasuredRow]) -> dict[str, float]:
    """The four constants of :func:`swarmsim.serving.fit_profiles` on ``rows`` (s)."""
    single = [r for r in rows if r.batch == 1]
    fixed, per_token, _ = _relative_line_fit(np.array([r.prompt for r in single], float),
                                             np.array([r.prompt_s for r in single]))
    tpot, slope, _ = _relative_line_fit(np.array([r.batch - 1 for r in rows], float),
                                        np.array([r.token_s for r in rows]))
    return {"prefill_fixed_s": max(fixed, 0.0), "prefill_s_per_token": max(per_token, 0.0),
            "decode_s_per_token": tpot, "batch_slowdown": max(slope, 0.0) / tpot}


def _groups(rows: Sequence[MeasuredRow]) -> dict[tuple[str, str, int], list[MeasuredRow]]:
    groups: dict[tuple[str, str, int], list[MeasuredRow]] = defaultdict(list)
    for r in rows:
        groups[(r.model, r.hardware, r.tp)].append(r)
    return dict(sorted(groups.items()))


def _resample(rows: Sequence[MeasuredRow], rng: np.random.Generator) -> list[MeasuredRow]:
    """Rows drawn with replacement, batch-1 and batched rows separately (each resample keeps
    as many of each, so the prefill fit always has its rows)."""
    out: list[MeasuredRow] = []
    for part in ([r for r in rows if r.batch == 1], [r for r in rows if r.batch != 1]):
        if part:
            out.extend(part[i] for i in rng.integers(0, len(part), len(part)))
    return out


def bootstrap_profiles(path: str | Path, samples: int = BOOTSTRAP_SAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> list[dict[str, Any]]:
    """Bootstrap samples of every fitted profile of ``catalog/serving.csv``: for each (model,
    hardware, TP), ``samples`` refits of :func:`swarmsim.serving.fit_profiles`'s two line fits on
    the kept rows resampled with replacement. One dict per sample (``sample`` 1..samples)."""
    streams = Streams(seed)
    out: list[dict[str, Any]] = []
    for (model, hardware, tp), rows in _groups(roofline.read_rows(path)).items():
        rng = streams.get(f"serving-bootstrap/{model}/{hardware}/{tp}")
        for k in range(1, samples + 1):
            out.append({"model": model, "hardware": hardware, "tensor_parallel": tp, "sample": k,
                        **_line_constants(_resample(rows, rng))})
    return out


def _design_all(rows: Sequence[MeasuredRow]) -> tuple[npt.NDArray[np.float64], ...]:
    pre, dec = roofline.design(rows)
    return pre, dec, np.array([r.prompt_s for r in rows]), np.array([r.token_s for r in rows])


def _fit_indices(arrays: tuple[npt.NDArray[np.float64], ...], single: npt.NDArray[np.bool_],
                 pick: npt.NDArray[np.intp], hardware: str) -> Efficiency:
    pre, dec, prompt_s, token_s = arrays
    p = pick[single[pick]]
    return Efficiency(hardware, roofline._relative_nnls(pre[p], prompt_s[p], roofline.PREFILL_FLOOR),
                      roofline._relative_nnls(dec[pick], token_s[pick], roofline.DECODE_FLOOR))


def fit_roofline_table(path: str | Path, samples: int = BOOTSTRAP_SAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> list[Efficiency]:
    """Per profiled hardware: the point fit of :func:`swarmsim.roofline.fit_efficiency` on all its
    kept rows, then ``samples`` fits on the rows resampled with replacement (batch-1 and batched
    rows separately)."""
    streams = Streams(seed)
    rows = roofline.read_rows(path)
    out: list[Efficiency] = []
    for hardware in sorted(roofline.PROFILED):
        mine = [r for r in rows if r.hardware == hardware]
        arrays = _design_all(mine)
        single = np.array([r.batch == 1 for r in mine])
        out.append(roofline.fit_efficiency(hardware, mine))
        rng = streams.get(f"serving-bootstrap/roofline/{hardware}")
        ones, many = np.flatnonzero(single), np.flatnonzero(~single)
        for _ in range(samples):
            pick = np.concatenate([rng.choice(ones, len(ones)), rng.choice(many, len(many))])
            out.append(_fit_indices(arrays, single, pick, hardware))
    return out


def split_half(path: str | Path, seed: int = SPLIT_SEED) -> dict[str, Any]:
    """Fit the roofline factors on a random half of the kept rows (per hardware) and predict the
    other half with the profile the simulator uses (context priced at
    :data:`~swarmsim.roofline.CONTEXT_REF_TOKENS`, as :func:`swarmsim.serving.roofline_profile`)
    and with the full roofline (the row's own context).

    Returns:
        ``{"rows": [...], "overall": {...}}``: one row per (model, hardware, TP) with the held-out
        row counts and the median and p90 absolute relative errors, percent, of prompt time
        (batch-1 rows; ``prompt_all_*`` on every row, a batch-b prompt time taken as b single
        prefills) and token time (``token_*`` the profile, ``token_full_*`` the full roofline).
    """
    rows = roofline.read_rows(path)
    rng = Streams(seed).get("serving-split-half")
    held = rng.permutation(len(rows)) % 2 == 1
    errors: dict[tuple[str, str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for hardware in sorted(roofline.PROFILED):
        train = [r for r, h in zip(rows, held, strict=True) if r.hardware == hardware and not h]
        test = [r for r, h in zip(rows, held, strict=True) if r.hardware == hardware and h]
        eff = roofline.fit_efficiency(hardware, train)
        _, full_token = roofline.predict(eff, test)
        gpu = find_gpu(roofline.PROFILED[hardware])
        assert gpu is not None
        for r, ft in zip(test, full_token, strict=True):
            model = find_model(r.model)
            assert model is not None
            prof = ServiceProfile(**roofline.roofline_constants(model, gpu, r.tp, eff), basis="")  # the 5 floats
            e = errors[(r.model, r.hardware, r.tp)]
            if r.batch == 1:
                e["prompt"].append(abs(float(prof.prefill_s(r.prompt)) / r.prompt_s - 1))
            e["prompt_all"].append(abs(r.batch * float(prof.prefill_s(r.prompt)) / r.prompt_s - 1))
            e["token"].append(abs(float(prof.tpot_s(r.batch)) / r.token_s - 1))
            e["token_full"].append(abs(float(ft) / r.token_s - 1))

    def stats(values: Sequence[float]) -> dict[str, float]:
        a = np.array(values) * 100.0
        return {"n": len(a), "median": float(np.median(a)), "p90": float(np.quantile(a, 0.9))}

    table = []
    for (name, hardware, tp), e in sorted(errors.items()):
        table.append({"model": name, "hardware": hardware, "tensor_parallel": tp,
                      **{f"{k}_{s}": v for k in e for s, v in stats(e[k]).items()}})
    overall = {f"{k}_{s}": v for k in ("prompt", "prompt_all", "token", "token_full")
               for s, v in stats([x for e in errors.values() for x in e[k]]).items()}
    return {"rows": table, "overall": overall}


def write_tables(path: str | Path, out_dir: str | Path | None = None) -> None:
    """Write ``catalog/serving_bootstrap.csv`` and ``catalog/roofline.csv`` from the
    measurements at ``path`` (floats to 10 significant digits)."""
    folder = Path(out_dir) if out_dir is not None else Path(str(resources.files("swarmsim.catalog")))
    with (folder / "serving_bootstrap.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["model", "hardware", "tensor_parallel", "sample", *_CONSTANTS])
        for s in bootstrap_profiles(path):
            writer.writerow([s["model"], s["hardware"], s["tensor_parallel"], s["sample"],
                             *(f"{s[c]:.10g}" for c in _CONSTANTS)])
    with (folder / "roofline.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["hardware", "sample", *PREFILL_TERMS, *DECODE_TERMS])
        counter: dict[str, int] = defaultdict(int)
        for eff in fit_roofline_table(path):
            writer.writerow([eff.hardware, counter[eff.hardware], *(f"{v:.10g}" for v in eff.prefill + eff.decode)])
            counter[eff.hardware] += 1

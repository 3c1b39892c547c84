"""``swarmsim serving fit FILE``: a serving profile fitted to your own benchmark run.

Reads the per-request result of

- vLLM ``benchmarks/benchmark_serving.py --save-result`` (one JSON object per file), or
- SGLang ``python -m sglang.bench_serving --output-file F --output-details`` (JSON Lines, one
  object per run, appended);

and uses, per run, the fields ``input_lens`` (prompt tokens), ``output_lens`` (output tokens),
``ttfts`` (s), ``itls`` (s, per request the gaps between output tokens), ``errors`` (a request
with a non-empty error is skipped), and for the batch size ``duration`` (s) with ``completed``
or the request count, else ``max_concurrency``. docs/serving.md, "Calibrate from your own
server", gives the fit and its limits.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from swarmsim.errors import ScenarioError
from swarmsim.serving import ServiceProfile, _relative_line_fit

__all__ = ["BenchFit", "BenchRun", "fit_benchmark", "read_benchmark", "render_fit"]

_NEEDED = ("input_lens", "output_lens", "ttfts", "itls")
_HOW = ("run vLLM benchmark_serving.py with --save-result, or SGLang bench_serving with "
        "--output-file and --output-details")


@dataclass(frozen=True)
class BenchRun:
    """One benchmark run: its successful requests and its mean number of requests in the server.

    Attributes:
        label: where it is in the file (``"line 3"`` for JSON Lines, ``"file"`` for one object).
        batch: mean requests in the server during the run (Little's law: completed / duration x
            mean end-to-end time, capped at ``max_concurrency``), or ``max_concurrency``, or 1.
        prompt, output: tokens per request.
        ttft_s: time to first token per request, s.
        tpot_s: mean inter-token time per request, s/token.
    """

    label: str
    batch: float
    prompt: npt.NDArray[np.float64]
    output: npt.NDArray[np.float64]
    ttft_s: npt.NDArray[np.float64]
    tpot_s: npt.NDArray[np.float64]


@dataclass(frozen=True)
class BenchFit:
    """A fitted profile with the runs it was fitted on and a note on what was not identified."""

    file: str
    profile: ServiceProfile
    runs: list[BenchRun]
    notes: list[str]


def _numbers(path: str, where: str, key: str, values: Any, n: int | None) -> npt.NDArray[np.float64]:
    if not isinstance(values, list) or (n is not None and len(values) != n):
        want = f"a list of {n} numbers (one per request)" if n is not None else "a list"
        got = f"a list of {len(values)}" if isinstance(values, list) else type(values).__name__
        raise ScenarioError(path, [(f"{where}: {key}", f"expected {want}, got {got}")])
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ScenarioError(path, [(f"{where}: {key}[{i}]", f"expected a finite number >= 0, got {v!r}")])
    return np.array(values, dtype=float)


def _run(path: str, where: str, obj: Any) -> BenchRun:
    if not isinstance(obj, dict):
        raise ScenarioError(path, [(where, f"expected a JSON object (one benchmark run), got {type(obj).__name__}")])
    if "ttfts" not in obj and ("latencies" in obj or "requests_per_second" in obj):
        kind = "benchmark_latency" if "latencies" in obj else "benchmark_throughput"
        raise ScenarioError(path, [(where, f"this is a vLLM {kind} result: it has no per-request token "
                                    f"counts or first-token times to fit a profile on; {_HOW}")])
    missing = [k for k in _NEEDED if k not in obj]
    if missing:
        raise ScenarioError(path, [(where, f"missing field{'s' if len(missing) > 1 else ''} "
                                    f"{', '.join(missing)}; {_HOW}")])
    prompt = _numbers(path, where, "input_lens", obj["input_lens"], None)
    n = len(prompt)
    output = _numbers(path, where, "output_lens", obj["output_lens"], n)
    ttft = _numbers(path, where, "ttfts", obj["ttfts"], n)
    itls = obj["itls"]
    if not isinstance(itls, list) or len(itls) != n:
        raise ScenarioError(path, [(f"{where}: itls", f"expected {n} lists of inter-token times (one per request)")])
    errors = obj.get("errors") or [""] * n
    if not isinstance(errors, list) or len(errors) != n:
        raise ScenarioError(path, [(f"{where}: errors", f"expected {n} strings (one per request)")])
    keep, tpot, e2e = [], [], []
    for i in range(n):
        gaps = _numbers(path, where, f"itls[{i}]", itls[i], None)
        e2e.append(ttft[i] + gaps.sum())
        if not errors[i] and ttft[i] > 0 and len(gaps) > 0:
            keep.append(i)
            tpot.append(float(gaps.mean()))
    if not keep:
        raise ScenarioError(path, [(where, "no successful request with at least two output tokens")])
    cap = obj.get("max_concurrency")
    cap = float(cap) if isinstance(cap, int | float) and not isinstance(cap, bool) and cap > 0 else math.inf
    duration = obj.get("duration")
    done = obj.get("completed", len(keep))
    if isinstance(duration, int | float) and duration > 0 and isinstance(done, int | float) and done > 0:
        batch = min(float(done) / float(duration) * float(np.mean(np.array(e2e)[keep])), cap)
    else:
        batch = cap if math.isfinite(cap) else 1.0
    idx = np.array(keep)
    return BenchRun(where, max(batch, 1.0), prompt[idx], output[idx], ttft[idx], np.array(tpot))


def read_benchmark(path: str | Path) -> list[BenchRun]:
    """The runs of a vLLM ``--save-result`` JSON file or an SGLang ``bench_serving`` JSON Lines
    file (detected by content: one JSON document, else one per line).

    Raises:
        ScenarioError: unreadable file, bad JSON (with its line), a missing or malformed field.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(name, [("", f"cannot read: {err}")]) from None
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if whole is not None:
        objects = whole if isinstance(whole, list) else [whole]
        return [_run(name, "file" if len(objects) == 1 else f"run {i + 1}", o) for i, o in enumerate(objects)]
    runs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ScenarioError(name, [(f"line {number}", f"not JSON ({err.msg} at column {err.colno})")]) from None
        runs.append(_run(name, f"line {number}", obj))
    if not runs:
        raise ScenarioError(name, [("", f"no benchmark run in the file; {_HOW}")])
    return runs


def fit_benchmark(path: str | Path) -> BenchFit:
    """Fit a :class:`ServiceProfile` to the runs of ``path``:

    - decode: each request's mean inter-token time against its run's mean batch ``b``,
      ``tpot ~ c + d (b - 1)`` by relative least squares (``batch_slowdown = d / c``; with a
      single batch level, ``batch_slowdown`` = 0 and ``c`` is that level's TPOT);
    - prefill: ``ttft - tpot(b) ~ a + e P`` on the requests of the runs whose batch is at most
      twice the smallest (TTFT at high load holds queueing, which is not prefill).

    Raises:
        ScenarioError: as :func:`read_benchmark`, or fits that leave no positive decode time.
    """
    runs = read_benchmark(path)
    notes: list[str] = []
    batch = np.concatenate([np.full(len(r.tpot_s), r.batch) for r in runs])
    tpot = np.concatenate([r.tpot_s for r in runs])
    if np.ptp(batch) < 0.5:
        c, slope = float(np.exp(np.mean(np.log(tpot)))), 0.0
        notes.append(f"one batch level ({batch[0]:.3g}): batch_slowdown is not identified and set to 0; "
                     "add a run at another concurrency")
    else:
        c, slope, _ = _relative_line_fit(batch - 1, tpot)
    if not c > 0:
        raise ScenarioError(str(path), [("itls", "the decode fit gives no positive time per token at batch 1")])
    slowdown = max(slope, 0.0) / c
    low = min(r.batch for r in runs)
    pre = [r for r in runs if r.batch <= 2 * low]
    prompt = np.concatenate([r.prompt for r in pre])
    prefill = np.concatenate([r.ttft_s - c * (1 + slowdown * (r.batch - 1)) for r in pre])
    ok = prefill > 0
    if ok.sum() >= 2 and np.ptp(prompt[ok]) > 0:
        fixed, per_token, _ = _relative_line_fit(prompt[ok], prefill[ok])
    else:
        fixed, per_token = float(np.median(np.maximum(prefill, 0.0))), 0.0
        notes.append("one prompt length: prefill_s_per_token is not identified and set to 0")
    if fixed < 0 or per_token < 0:
        notes.append("the prefill line had a negative constant, clipped to 0")
    profile = ServiceProfile(max(fixed, 0.0), max(per_token, 0.0), c, slowdown, basis=f"fitted on {path}")
    return BenchFit(str(path), profile, runs, notes)


def _errors(fit: BenchFit, run: BenchRun) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    p = fit.profile
    return p.ttft_s(run.prompt, run.batch) / run.ttft_s - 1, p.tpot_s(run.batch) / run.tpot_s - 1


def render_fit(fit: BenchFit) -> str:
    """The fitted constants (a scenario ``replica:`` block) and the error table per run."""
    p = fit.profile
    lines = [f"serving profile fitted on {fit.file} ({sum(len(r.tpot_s) for r in fit.runs)} requests, "
             f"{len(fit.runs)} run{'s' if len(fit.runs) != 1 else ''})", "", "replica:",
             f"  prefill_fixed_s: {p.prefill_fixed_s:.6g}", f"  prefill_s_per_token: {p.prefill_s_per_token:.6g}",
             f"  decode_s_per_token: {p.decode_s_per_token:.6g}", f"  batch_slowdown: {p.batch_slowdown:.6g}", ""]
    head = f"{'run':<10} {'requests':>8} {'batch':>6} {'TTFT ms':>9} {'model':>9} {'err':>7} " \
           f"{'TPOT ms':>8} {'model':>8} {'err':>7}"
    lines += [head, "-" * len(head)]
    all_ttft, all_tpot = [], []
    for run in fit.runs:
        e_ttft, e_tpot = _errors(fit, run)
        all_ttft.append(np.abs(e_ttft))
        all_tpot.append(np.abs(e_tpot))
        measured_ttft, measured_tpot = float(np.median(run.ttft_s)), float(np.median(run.tpot_s))
        model_ttft = float(np.median(p.ttft_s(run.prompt, run.batch)))
        model_tpot = float(p.tpot_s(run.batch))
        lines.append(f"{run.label:<10} {len(run.tpot_s):>8} {run.batch:>6.3g} {measured_ttft * 1e3:>9.1f} "
                     f"{model_ttft * 1e3:>9.1f} {(model_ttft / measured_ttft - 1) * 100:>+6.1f}% "
                     f"{measured_tpot * 1e3:>8.2f} {model_tpot * 1e3:>8.2f} "
                     f"{(model_tpot / measured_tpot - 1) * 100:>+6.1f}%")
    t1, t2 = np.concatenate(all_ttft) * 100, np.concatenate(all_tpot) * 100
    lines += ["", f"per-request |error|: TTFT median {np.median(t1):.1f} %, p90 {np.quantile(t1, 0.9):.1f} %; "
              f"TPOT median {np.median(t2):.1f} %, p90 {np.quantile(t2, 0.9):.1f} %"]
    lines += [f"note: {n}" for n in fit.notes]
    return "\n".join(lines)

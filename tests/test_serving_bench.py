"""``swarmsim serving fit FILE`` on vLLM and SGLang benchmark results (swarmsim/serving_bench.py).

The two sample files under tests/data follow the published field names. They were written from a
known profile, prefill 25 ms + 0.12 ms per prompt token, 12 ms per output token at batch 1 and
+2 % per extra request, with every TTFT and inter-token gap multiplied by a factor in
0.98..1.02; a fit must find those constants back within that noise.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from swarmsim.cli import main
from swarmsim.serving_bench import fit_benchmark, read_benchmark

DATA = Path(__file__).resolve().parent / "data"
VLLM = DATA / "vllm-benchmark-serving.json"
SGLANG = DATA / "sglang-bench-serving.jsonl"


def test_vllm_save_result_recovers_the_profile_it_was_made_from(capsys) -> None:
    assert main(["serving", "fit", str(VLLM)]) == 0
    out = capsys.readouterr().out
    fit = fit_benchmark(VLLM)
    p = fit.profile
    assert p.prefill_fixed_s == pytest.approx(0.025, rel=0.1)
    assert p.prefill_s_per_token == pytest.approx(1.2e-4, rel=0.05)
    assert p.decode_s_per_token == pytest.approx(0.012, rel=0.01)
    assert p.batch_slowdown == 0  # a single concurrency level cannot show the batch effect
    assert "batch_slowdown is not identified" in out
    assert f"decode_s_per_token: {p.decode_s_per_token:.6g}" in out
    assert "per-request |error|: TTFT median" in out


def test_sglang_jsonl_runs_at_two_concurrencies_identify_the_batch_slowdown(capsys) -> None:
    runs = read_benchmark(SGLANG)
    assert [r.label for r in runs] == ["line 1", "line 2"]
    # Little's law: completed / duration x mean end-to-end time; the file's duration is the sum
    # of the end-to-end times over the concurrency (1, then 8).
    assert [r.batch for r in runs] == [pytest.approx(1.0), pytest.approx(8.0)]
    assert len(runs[1].tpot_s) == 8  # the failed ninth request (an error string) is skipped
    p = fit_benchmark(SGLANG).profile
    assert p.decode_s_per_token == pytest.approx(0.012, rel=0.01)
    assert p.batch_slowdown == pytest.approx(0.02, rel=0.1)
    assert main(["serving", "fit", str(SGLANG)]) == 0
    table = capsys.readouterr().out
    assert "line 2" in table and "note:" not in table


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def sample() -> dict:
    return json.loads(VLLM.read_text())


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("bad.jsonl", lambda: json.dumps(sample()) + "\n{not json\n", r"bad.jsonl: line 2: not JSON"),
        ("missing.json", lambda: json.dumps({k: v for k, v in sample().items() if k != "itls"}),
         r"missing.json: file: missing field itls; run vLLM benchmark_serving.py with --save-result"),
        ("negative.json", lambda: json.dumps({**sample(), "ttfts": [0.1, -1, 0.1, 0.1, 0.1, 0.1]}),
         r"negative.json: file: ttfts\[1\]: expected a finite number >= 0, got -1"),
        ("short.json", lambda: json.dumps({**sample(), "output_lens": [6, 6]}),
         r"short.json: file: output_lens: expected a list of 6 numbers \(one per request\), got a list of 2"),
        ("latency.json", lambda: json.dumps({"avg_latency": 1.5, "latencies": [1.4, 1.6], "percentiles": {}}),
         r"latency.json: file: this is a vLLM benchmark_latency result: it has no per-request"),
        ("empty.jsonl", lambda: "\n\n", r"empty.jsonl: no benchmark run in the file"),
    ],
)
def test_bad_input_is_one_message_naming_the_file_and_field_exit_2(tmp_path, capsys, name, make, message) -> None:
    path = write(tmp_path, name, make())
    assert main(["serving", "fit", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert re.search(message, lines[0]), lines[0]


def test_a_missing_file_is_exit_2(tmp_path, capsys) -> None:
    assert main(["serving", "fit", str(tmp_path / "nope.json")]) == 2
    assert "nope.json: cannot read" in capsys.readouterr().err

"""Every shipped scenario validates and runs briefly, and keeps the invariants."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_properties import check_invariants

import swarmsim
from swarmsim.cli import builtin_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = [*sorted((ROOT / "scenarios").glob("*.yaml")), builtin_scenario()]


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 4


DATA = ROOT.parent / "shared" / "data"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_validates_and_runs_briefly(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if "${SWARMSIM_DATA}" in path.read_text():
        if not DATA.is_dir():
            pytest.skip(f"{path.name} replays published traces; none found at {DATA}")
        monkeypatch.setenv("SWARMSIM_DATA", str(DATA))
    sc = swarmsim.load_scenario(path)
    assert sc.name == path.stem  # the results folder is named after the file
    assert sc.description, "every shipped scenario says what it shows"
    short = swarmsim.load_scenario(sc, overrides={"horizon": "12h", "warmup": "1h"})
    if any(getattr(w, "trace", None) is not None for w in sc.workloads.values()):
        short = swarmsim.load_scenario(sc, overrides={"horizon": "3d", "warmup": "1h"})
    res = swarmsim.simulate(short)
    if "requested_gpu_fraction" in res.summary:  # workload inflation (docs/sharing.md) has its own figures
        s = res.summary
        assert s["jobs_arrived"] == s["jobs_started"] + s["jobs_dropped"] > 0
        assert 0 <= s["gpus_fragmented_final"] <= s["gpus_unallocated_final"] + 1e-9
        return
    check_invariants(res)
    assert res.summary["jobs_arrived"] + res.summary["requests_arrived"] > 0
    if "gpus_fragmented_final" in res.summary:  # a sharing fleet in the world adds its figures
        s = res.summary
        assert 0 <= s["gpus_fragmented_final"] <= s["gpus_unallocated_final"] + 1e-9

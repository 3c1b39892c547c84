"""How long report.html takes and how big it is, for the quickstart and for a 1M-job run
(``docs/performance.md``, "The report"; targets: quickstart under 5 MB, 1M jobs under 20 MB and
30 s).

The 1M-job run is case (b) of ``bench_core.py`` (5 regions, 2,000 nodes, 1-16 GPU jobs, a
sample every 10 minutes). For each size it times, in this process:

- ``simulate`` (for reference, not part of the report);
- ``report from the Result``: :func:`swarmsim.report.run_report` on the fresh ``Result``, what
  ``Result.save`` adds to a run (the request recorder's histograms, no CSV reading);
- ``report from the folder``: ``swarmsim report DIR``'s work, :func:`swarmsim.report.write_report`
  on the saved run folder (reading scenario.yaml, summary.json and every CSV back).

Usage::

    python benchmarks/bench_report.py            # quickstart and 1M jobs, a few minutes
    python benchmarks/bench_report.py --quick    # quickstart and 50,000 jobs
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import regions_scenario

import swarmsim
from swarmsim.report import REPORT_FILE, run_report, write_report
from swarmsim.report.series import bucket_size


def case(name: str, scenario: object, out: Path) -> None:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = swarmsim.simulate(scenario)
    t1 = time.perf_counter()
    folder = out / name
    folder.mkdir(parents=True)
    run_report(res, folder)
    t2 = time.perf_counter()
    size_result = (folder / REPORT_FILE).stat().st_size
    shutil.rmtree(folder)
    res.save(folder, plots=False, report=False)
    t3 = time.perf_counter()
    write_report(folder)
    t4 = time.perf_counter()
    size_folder = (folder / REPORT_FILE).stat().st_size
    samples = int(res.timeseries["time_s"].nunique())
    print(f"{name}: {len(res.jobs):,} jobs, {samples:,} samples x {res.timeseries['region'].nunique()} regions "
          f"(bucket {bucket_size(res.timeseries['time_s'])} samples), load {load:.2f}")
    print(f"  simulate {t1 - t0:7.1f} s   report from the Result {t2 - t1:6.2f} s, {size_result / 1e6:5.2f} MB   "
          f"save CSVs {t3 - t2:6.1f} s   report from the folder {t4 - t3:6.2f} s, {size_folder / 1e6:5.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 jobs instead of 1,000,000")
    args = parser.parse_args()
    jobs = 50_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        case("quickstart", Path(swarmsim.__file__).parent / "scenarios" / "quickstart.yaml", out)
        case(f"regions-{jobs // 1000}k", regions_scenario(jobs), out)


if __name__ == "__main__":
    main()

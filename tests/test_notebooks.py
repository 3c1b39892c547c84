"""The notebooks of notebooks/ run end to end on a real Jupyter kernel of this interpreter, and
are stored without outputs.

Each notebook runs with nbclient in a fresh ``python3`` kernel (ipykernel), with the repository
root as its working directory (so relative scenario paths work) and ``SWARMSIM_DATA`` pointing at
the shared data folder when there is one. Notebook 04 runs a second time without
``SWARMSIM_DATA`` to check its synthetic-trace fallback. A cell appended to the executed copy
checks that the kernel ran this interpreter and imported this checkout of swarmsim.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EXPECTED = ["01-quickstart", "02-compare-scaling-policies", "03-geographic-expansion", "04-trace-replay",
            "05-resilience"]

# jupyter_client launches these argv[0] names as the current interpreter (sys.executable).
PYTHON_NAMES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}


def test_the_notebooks_are_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    readme = (NOTEBOOK_DIR / "README.md").read_text()
    for name in EXPECTED:
        assert f"{name}.ipynb" in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} has stored outputs (clear them before committing)"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory: pytest.TempPathFactory):
    """A kernel spec that runs this interpreter: the installed ``python3`` spec when it does (the
    one ipykernel installs into the venv), else a spec written under a temporary JUPYTER_PATH."""
    try:
        argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
        runs_us = argv0 in PYTHON_NAMES or Path(argv0).resolve() == Path(sys.executable).resolve()
    except NoSuchKernel:
        runs_us = False
    if runs_us:
        yield "python3"
        return
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "swarmsim-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "swarmsim tests", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(root), os.environ.get("JUPYTER_PATH")])))
        yield "swarmsim-test"


CHECK_CELL = """
import sys, swarmsim
print("KERNEL-PYTHON", sys.executable)
print("KERNEL-SWARMSIM", swarmsim.__file__)
"""


def execute(path: Path, kernel_name: str, env: dict[str, str]) -> tuple[nbformat.NotebookNode, float]:
    """Run a copy of the notebook (plus CHECK_CELL) in a new kernel; return it and the seconds taken.

    The kernel talks over Unix sockets in a private folder (IPC transport), not TCP ports, so two
    kernels started at once by two xdist workers cannot race for the same port."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
    with tempfile.TemporaryDirectory(prefix="swarmsim-kernel-") as sockets:
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "k")}})
        client = NotebookClient(nb, kernel_name=kernel_name, timeout=600, config=ipc,
                                resources={"metadata": {"path": str(REPO)}})
        started = time.perf_counter()
        try:
            client.execute(env=env)
        except CellExecutionError as err:
            pytest.fail(f"{path.name} failed:\n{err}", pytrace=False)
        return nb, time.perf_counter() - started


def stream_text(nb: nbformat.NotebookNode, name: str = "stdout") -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.output_type == "stream" and o.name == name)


def images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def data_env() -> dict[str, str]:
    env = dict(os.environ)
    if SHARED_DATA.is_dir():
        env["SWARMSIM_DATA"] = str(SHARED_DATA)
    return env


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_end_to_end(path: Path, kernel_name: str):
    nb, seconds = execute(path, kernel_name, data_env())
    out = stream_text(nb)
    assert f"KERNEL-PYTHON {sys.executable}" in out
    assert f"KERNEL-SWARMSIM {REPO / 'swarmsim' / '__init__.py'}" in out
    # The figures are shown in the notebook (inline backend), not only drawn.
    assert images(nb) >= 3, f"{path.name}: {images(nb)} figures shown"
    print(f"{path.name}: {seconds:.1f} s")
    if path.stem == "04-trace-replay":
        real = (SHARED_DATA / "alibaba-gpu-v2023" / "openb_pod_list_default.csv").is_file()
        assert ("Using the Alibaba 2023 trace" in out) == real


def test_trace_notebook_falls_back_to_a_synthetic_trace_without_data(kernel_name: str):
    env = {k: v for k, v in os.environ.items() if k != "SWARMSIM_DATA"}
    nb, _ = execute(NOTEBOOK_DIR / "04-trace-replay.ipynb", kernel_name, env)
    out = stream_text(nb)
    assert "SWARMSIM_DATA is not set: replaying a small synthetic trace instead" in out
    assert "synthetic_jobs.csv (1,000 jobs)" in out
    assert images(nb) >= 3

"""Download public traces into a local cache, checked against their SHA-256 (``swarmsim data fetch``).

:data:`DATASETS` is the one table of known datasets: each file's published address (raw GitHub
at the commit recorded in the dataset's SOURCE.md) and the SHA-256 of that file. A file is
downloaded to a temporary file beside its destination, hashed while it streams, and renamed into
place only when its checksum matches, so the cache never holds a partial or wrong file. A file
already in the cache with the right checksum is not downloaded again.

The cache is ``<cache>/<dataset>/<file>``; the default cache is ``$SWARMSIM_DATA`` when set,
else ``~/.cache/swarmsim/traces`` (the last folder of the data lookup order,
:mod:`swarmsim.datadirs`). A mirror (``base_url``) has the same layout:
``<base_url>/<dataset>/<file>``, so a cache folder served over HTTP is a mirror.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import swarmsim.datadirs as datadirs
from swarmsim.atomic import atomic_file
from swarmsim.errors import ScenarioError, did_you_mean

log = logging.getLogger(__name__)

#: Seconds to wait for a server before giving up on a file.
TIMEOUT_S = 60.0

_BLOCK = 1 << 20


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: its name in the cache, its published address, its checksum."""

    name: str
    url: str
    sha256: str
    size: int  # bytes


@dataclass(frozen=True)
class Dataset:
    """A public trace: where it comes from (repository at a commit) and its files."""

    name: str
    description: str
    source: str
    files: tuple[DataFile, ...]


def _github(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{urllib.parse.quote(path)}"


_AZURE = ("Azure/AzurePublicDataset", "b469a113cedca53ddc3bdea71a143dc4b7d8700c")
_ALIBABA = ("alibaba/clusterdata", "7a6c496e4f4b6ce6150be8f881cb051bf2abff42")
_MOONCAKE = ("kvcache-ai/Mooncake", "3b5a594133958449a1feaf1c9e0fc1b553e34a28")
_TIRESIAS = ("SymbioticLab/Tiresias", "959f9b08f44fa1b4f2b3aed79b01e4d439264a94")
_GAVEL = ("stanford-futuredata/gavel", "c4fa40097339e9608ab71fd64c8bdea96a5e4a4c")


def _dataset(name: str, description: str, repo: tuple[str, str], files: list[tuple[str, str, str, int]]) -> Dataset:
    """``files``: (name, path in the repository, sha256, size)."""
    return Dataset(name, description, f"https://github.com/{repo[0]} at {repo[1]}",
                   tuple(DataFile(f, _github(*repo, path), sha, size) for f, path, sha, size in files))


#: Known datasets by name (the folder names of shared/data). Checksums are those of the copies
#: retrieved from the addresses below; each dataset's SOURCE.md records the same prefixes.
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    _dataset("azure-llm-2023", "Azure LLM inference 2023 (Splitwise): one hour of code and conversation requests",
             _AZURE, [
                 ("AzureLLMInferenceTrace_code.csv", "data/AzureLLMInferenceTrace_code.csv",
                  "54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6", 320_117),
                 ("AzureLLMInferenceTrace_conv.csv", "data/AzureLLMInferenceTrace_conv.csv",
                  "2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8", 719_188),
             ]),
    _dataset("alibaba-gpu-v2023", "Alibaba OpenB GPU cluster 2023 (FGD, ATC'23): pod lists and node lists",
             _ALIBABA, [
                 ("openb_pod_list_default.csv", "cluster-trace-gpu-v2023/csv/openb_pod_list_default.csv",
                  "1ee7ed79c27a3b0861cda8ddba86a004c6aba904caafa329a76ae93ca63834a8", 575_468),
                 ("openb_pod_list_gpuspec33.csv", "cluster-trace-gpu-v2023/csv/openb_pod_list_gpuspec33.csv",
                  "eca4f746db1e5b25864ad021b55ece3943e101a3ebd4574d09dcb95c46117652", 587_467),
                 ("openb_pod_list_multigpu50.csv", "cluster-trace-gpu-v2023/csv/openb_pod_list_multigpu50.csv",
                  "206f2f5959db30ecb7c44e7f13197c8ec50b7a35558ad3777cc3662ef0fe5373", 297_219),
                 ("openb_node_list_gpu_node.csv", "cluster-trace-gpu-v2023/csv/openb_node_list_gpu_node.csv",
                  "2beca64b4d3dfa342036a34b56a495c6cef9225db836c81f541282cb1df320b5", 42_353),
                 ("openb_node_list_all_node.csv", "cluster-trace-gpu-v2023/csv/openb_node_list_all_node.csv",
                  "5a85c2af79c66a1efff8bbcbda430400aae56d8431370d738480967e1a9c6b15", 52_287),
             ]),
    _dataset("alibaba-gpu-v2020", "Alibaba PAI 2020 (NSDI'22): Philly run times and the machine-spec header "
             "(pai_machine_spec.csv ships inside a tar.gz: not fetched)", _ALIBABA, [
                 ("philly_runtime.csv", "cluster-trace-gpu-v2020/analysis/philly_runtime.csv",
                  "e99015baaea66833ebeac68d27c994aa13d83847f73b4a7c7dc71fe94b395247", 535_725),
                 ("pai_machine_spec.header", "cluster-trace-gpu-v2020/data/pai_machine_spec.header",
                  "4c9ea25914ff3f0b73be9ff223fb91002e787138165abd3f584ba37281448e1c", 41),
             ]),
    _dataset("alibaba-spot-gpu-v2026", "Alibaba spot GPU 2026 (GFS, ASPLOS'26): node inventory", _ALIBABA, [
        ("node_info_df.csv", "cluster-trace-v2026-spot-gpu/node_info_df.csv",
         "1aba161961a5a4a1a61aa581383c5e5abe3400b59f8597ba8c4eef7597bc9d18", 78_330),
    ]),
    _dataset("alibaba-genai-v2026", "Alibaba GenTD26 (SoCC'25): diffusion request trace "
             "(qps.csv ships inside a tar.gz: not fetched)", _ALIBABA, [
                 ("lora_request_trace.csv", "cluster-trace-v2026-GenAI/lora_request_trace.csv",
                  "263fb88f1095f62d360cf89ded8cfc24fa2c5d111c1b16e7aaa9ccbfc4b37d78", 2_012_418),
             ]),
    _dataset("alibaba-dlrm-v2025", "Alibaba GPU-disaggregated DLRM serving 2025 (NSDI'25)", _ALIBABA, [
        ("disaggregated_DLRM_trace.csv", "cluster-trace-gpu-v2025/disaggregated_DLRM_trace.csv",
         "fb17bc4b3f412d5280f70f04a1bdf2adfc4429d1e61237a5b106e86206414295", 2_118_900),
    ]),
    _dataset("mooncake", "Mooncake FAST'25 (Kimi): conversation and synthetic request traces", _MOONCAKE, [
        ("conversation_trace.jsonl", "FAST25-release/traces/conversation_trace.jsonl",
         "b8cbb061a85206d729d91cdc2981f43c9e0d99209dce588d3af5f7934408b9df", 3_029_533),
        ("synthetic_trace.jsonl", "FAST25-release/traces/synthetic_trace.jsonl",
         "bd070915a98fc0ed264d7cfef2ce746002eb3076a695ec31ba2674c0111ec131", 1_136_313),
    ]),
    _dataset("tiresias", "Tiresias (NSDI'19): 60-job sample trace and YARN GPU-time sample", _TIRESIAS, [
        ("60_job.csv", "simulator/60_job.csv",
         "17575949a6e570960db42bc5576739de9c334ed4c664859841c4f01ede38bd1b", 1_871),
        ("yarn-gput10000.csv", "simulator/yarn-gput10000.csv",
         "5452a607079d8637a0f7be3176c3cc6a9f33baa7c6980e79f4808087157b9b75", 60_490),
    ]),
    _dataset("gavel", "Gavel (OSDI'20): a Philly-derived job trace and measured throughputs", _GAVEL, [
        ("ee9e8c.trace", "scheduler/traces/msr/seed=0/ee9e8c.trace",
         "ce629ae806113d60daa51dd9423030333a1abf45ee2a51c1013cdfdc49782a5c", 379_404),
        ("simulation_throughputs.json", "scheduler/simulation_throughputs.json",
         "17111f7295f03265fd9e5118d7eba31e3dd9d6e50a2e215c13ad3d3f91f74381", 1_240_176),
    ]),
)}


@dataclass(frozen=True)
class Fetched:
    """What :func:`fetch` did with one file."""

    path: Path
    url: str
    status: Literal["cached", "downloaded"]


def default_cache() -> Path:
    """``$SWARMSIM_DATA`` when set, else ``~/.cache/swarmsim/traces``."""
    env = os.environ.get(datadirs.VARIABLE)
    return Path(env).expanduser() if env else datadirs.fetch_cache()


def check_trace_path(path: str | os.PathLike[str]) -> None:
    """A :class:`ScenarioError` for a trace file that does not exist and whose first folder names
    a known dataset: most often ``${SWARMSIM_DATA}/azure-llm-2023/...`` typed while the variable
    is not set, which the shell turns into ``/azure-llm-2023/...``. The message says so, and
    where the file is in the data lookup order (:mod:`swarmsim.datadirs`) or how to get it.
    Any other path is left to the reader."""
    text = os.fspath(path)
    parts = [p for p in Path(text).parts if p not in ("/", ".")]
    if Path(text).exists() or len(parts) < 2 or parts[0] not in DATASETS:
        return
    rel = "/".join(parts)
    env = os.environ.get(datadirs.VARIABLE)
    if env:
        why = (f"no such file; its first folder names the dataset {parts[0]}: "
               f"did you mean ${datadirs.VARIABLE}/{rel} ({Path(env).expanduser() / rel})?")
    else:
        shell = (f"no such file: SWARMSIM_DATA is not set, so ${{SWARMSIM_DATA}}/{rel} became {text}"
                 if text.startswith("/") else f"no such file; its first folder names the dataset {parts[0]}")
        folder = datadirs.find(rel)
        if folder is not None:
            how = {str(f): h for h, f in datadirs.candidates()}[str(folder)]
            why = f"{shell}; the file is at {folder / rel} ({how}): export SWARMSIM_DATA={folder}"
        else:
            why = f"{shell}; {datadirs.looked(rel)}"
    raise ScenarioError(text, [("", why)])


def dataset(name: str) -> Dataset:
    """The dataset called ``name``, or a :class:`ScenarioError` listing the known ones."""
    if name in DATASETS:
        return DATASETS[name]
    raise ScenarioError(None, [("", f"unknown dataset {name!r}{did_you_mean(name, DATASETS)}; known: "
                                    f"{', '.join(sorted(DATASETS))}")])


def fetch(name: str, cache: str | Path | None = None, base_url: str | None = None,
          timeout_s: float = TIMEOUT_S) -> list[Fetched]:
    """Make every file of dataset ``name`` present and verified in ``cache``/``name``.

    Args:
        name: a key of :data:`DATASETS`.
        cache: the cache folder (default :func:`default_cache`).
        base_url: a mirror laid out as ``<base_url>/<name>/<file>``, instead of the published
            addresses.
        timeout_s: per connection, seconds.

    A file already cached with the right SHA-256 is left alone; one with a wrong checksum is
    downloaded again. A download whose checksum does not match is deleted and raises a
    :class:`ScenarioError` naming the file and both checksums.
    """
    data = dataset(name)
    folder = Path(cache).expanduser() if cache is not None else default_cache()
    folder = folder / data.name
    done = []
    for f in data.files:
        dest = folder / f.name
        url = f"{base_url.rstrip('/')}/{data.name}/{urllib.parse.quote(f.name)}" if base_url else f.url
        if dest.is_file():
            if _sha256(dest) == f.sha256:
                done.append(Fetched(dest, url, "cached"))
                continue
            log.warning("%s: checksum does not match %s; downloading it again", dest, f.sha256[:16])
        _download(url, dest, f, timeout_s)
        done.append(Fetched(dest, url, "downloaded"))
    return done


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, dest: Path, f: DataFile, timeout_s: float) -> None:
    """Stream ``url`` into a temporary file beside ``dest``, check it, then rename it into place."""
    created = not dest.parent.exists()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        problem = f"cannot create the cache folder: {err.strerror or err}"
        raise ScenarioError(str(dest.parent), [("", problem)]) from None
    try:
        digest = hashlib.sha256()
        with atomic_file(dest, "wb") as out, _opener(url).open(url, timeout=timeout_s) as response:
            while block := response.read(_BLOCK):
                digest.update(block)
                out.write(block)
            got = digest.hexdigest()
            if got != f.sha256:  # raised inside the block: the temporary file is deleted, dest untouched
                raise ScenarioError(url, [("sha256", f"checksum mismatch for {f.name}: expected {f.sha256}, got "
                                           f"{got}; the download was deleted (a changed or corrupted file, or a "
                                           "wrong mirror)")])
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
        code = getattr(err, "code", None)
        what = f"HTTP {code} {reason}" if code else str(reason)
        raise ScenarioError(url, [("", f"cannot download {f.name}: {what}")]) from None
        if created and dest.parent.is_dir() and not any(dest.parent.iterdir()):
            dest.parent.rmdir()


def _opener(url: str) -> urllib.request.OpenerDirector:
    """Direct for a loopback host (a local mirror, the tests), else with the environment's proxies."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()

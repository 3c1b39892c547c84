"""Where swarmsim looks for public trace data (``${SWARMSIM_DATA}`` in a scenario, ``swarmsim trace``).

The lookup order (README.md, docs/traces.md):

1. ``$SWARMSIM_DATA`` when it is set (and then only there: an explicit setting is never
   second-guessed);
2. ``../shared/data`` beside the checkout, i.e. ``<repository root>/../shared/data`` when
   swarmsim runs from a source checkout (the team's shared data folder);
3. the cache of ``swarmsim data fetch``: ``~/.cache/swarmsim/traces``.

Each folder holds one sub-folder per dataset (``azure-llm-2023/``, ``alibaba-gpu-v2023/``, ...).
This module is a leaf (standard library only), so that the scenario loader and the trace tools
can both use it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable naming the data folder.
VARIABLE = "SWARMSIM_DATA"


def fetch_cache() -> Path:
    """The folder ``swarmsim data fetch`` downloads into when ``$SWARMSIM_DATA`` is not set."""
    return Path.home() / ".cache" / "swarmsim" / "traces"


def checkout_data() -> Path | None:
    """``../shared/data`` beside the source checkout swarmsim runs from; ``None`` when swarmsim
    is not running from a checkout (an installed wheel has no ``pyproject.toml`` beside it)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        return None
    return (root.parent / "shared" / "data").resolve()


def candidates() -> list[tuple[str, Path]]:
    """The data folders in lookup order, each with how it was found (for messages)."""
    env = os.environ.get(VARIABLE)
    if env:
        return [(f"${VARIABLE}", Path(env).expanduser())]
    out: list[tuple[str, Path]] = []
    beside = checkout_data()
    if beside is not None:
        out.append(("../shared/data beside the checkout", beside))
    out.append(("the `swarmsim data fetch` cache", fetch_cache()))
    return out


def find(relative: str) -> Path | None:
    """The first data folder (lookup order) holding ``relative`` (``dataset/file``), or ``None``."""
    rel = relative.lstrip("/")
    for _, folder in candidates():
        if (folder / rel).exists():
            return folder
    return None


def looked(relative: str) -> str:
    """``looked for <rel> in <folder/rel> (<how>); ...: not found. Set ... or run ...``."""
    rel = relative.lstrip("/")
    dataset = rel.split("/", 1)[0] or "DATASET"
    where = "; ".join(f"{folder / rel} ({how})" for how, folder in candidates())
    return (f"looked for {rel} in {where}: not found. Set {VARIABLE} to the folder holding "
            f"{dataset}/, or run `swarmsim data fetch {dataset}`")


def not_found(relative: str) -> str:
    """The message for ``${SWARMSIM_DATA}/<relative>`` while the variable is not set and no
    folder of the lookup order holds the file."""
    return f"{VARIABLE} is not set; {looked(relative)}"

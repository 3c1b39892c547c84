"""A real headless browser for the report tests: Chromium from Debian's packages.

:func:`chromium` finds the binary once per test process (``chromium``, ``chromium-browser``,
``google-chrome``); when it is missing and ``CI`` or ``SWARMSIM_INSTALL_CHROMIUM`` is set and the
process is root, it installs Debian's ``chromium`` package (``apt-get``, under a file lock so
that parallel workers install it once). Otherwise the tests that need it skip, saying why.
:func:`open_page` loads a file:// page with the network off (every request goes to a proxy at
127.0.0.1:9 that does not exist) and returns the DOM after the scripts ran.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome")
LOCK = Path(tempfile.gettempdir()) / "swarmsim-chromium-install.lock"


def _find() -> str | None:
    return next((p for p in map(shutil.which, NAMES) if p), None)


@functools.lru_cache(maxsize=1)
def chromium() -> tuple[str | None, str]:
    """``(path, "")``, or ``(None, why it is missing)``."""
    found = _find()
    if found:
        return found, ""
    allowed = os.environ.get("CI") or os.environ.get("SWARMSIM_INSTALL_CHROMIUM")
    if not allowed:
        return None, ("no chromium on PATH; install Debian's package (apt-get install chromium), or set "
                      "SWARMSIM_INSTALL_CHROMIUM=1 (or CI) as root to let the tests install it")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "no chromium on PATH, and installing it needs root and apt-get"
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _find():
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
                if proc.returncode != 0:
                    return None, f"installing chromium failed: {' '.join(cmd)}: {proc.stderr[-500:]}"
    found = _find()
    return (found, "") if found else (None, "apt-get installed chromium but it is not on PATH")


FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--virtual-time-budget=8000")


def open_page(binary: str, page: Path, screenshot: Path | None = None, size: str = "1280,2400") -> str:
    """The DOM of ``page`` after its scripts ran (``--dump-dom``), and a PNG at ``screenshot``."""
    with tempfile.TemporaryDirectory() as profile:
        args = [binary, *FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run([*args, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True,
                             timeout=180)
        assert dom.returncode == 0, dom.stderr[-2000:]
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            shot = subprocess.run([*args, f"--window-size={size}", f"--screenshot={screenshot.resolve()}",
                                   page.resolve().as_uri()], capture_output=True, text=True, timeout=180)
            assert shot.returncode == 0, shot.stderr[-2000:]
    return dom.stdout

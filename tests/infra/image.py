"""The worker image, built (or found) by deploy/worker/build.sh as `make image` does it."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "deploy" / "worker" / "build.sh"
BUILD_TIMEOUT = 900  # a cold build: Debian base from the mirror, then every wheel


@dataclass(frozen=True)
class BuiltImage:
    name: str
    seconds: float


def build_worker_image() -> BuiltImage:
    """Run the build script; it prints `export BADGES_WORKER_IMAGE=<name>` on stdout."""
    start = time.monotonic()
    done = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{BUILD} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    name = done.stdout.strip().rpartition("BADGES_WORKER_IMAGE=")[2]
    if not name:
        raise RuntimeError(f"{BUILD} named no image:\n{done.stdout}\n{done.stderr[-2000:]}")
    return BuiltImage(name, time.monotonic() - start)

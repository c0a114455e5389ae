"""What a run was made with besides its settings: package versions, the code's commit, the CPU
(model, count and vector instruction sets) and XLA flags that float sums depend on, the devices,
and a digest of every split of the data (``environment.json`` in the run folder).

A run reproduces from its ``config.json`` only in the same environment: float training depends
on the JAX version and on how XLA orders float sums, and generated data (the synthetic keyword
set) on the tools that made it. :func:`environment_differences` names what changed, so that
``run.py --reproduce`` can say why a rerun differs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np

from jaxgru.data.tasks import Splits

FILE = "environment.json"
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "evosax", "orbax-checkpoint", "tensorflow-datasets")
SPLIT_ARRAYS = ("x_train", "y_train", "lengths_train", "x_val", "y_val", "lengths_val", "x_test", "y_test",
                "lengths_test")
# /proc/cpuinfo flags that name vector instruction sets XLA's CPU backend can use.
VECTOR_SETS = ("sse4", "avx", "fma", "amx", "f16c")
# Environment variables that change what XLA computes or how (jaxgru.runtime reads the last).
VARIABLES = ("XLA_FLAGS", "JAX_ENABLE_X64", "JAX_DEFAULT_MATMUL_PRECISION", "JAXGRU_FAST_REDUCTIONS")


def array_digest(a: np.ndarray) -> str:
    """sha256 (first 16 hex digits) of an array's dtype, shape and bytes."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def data_digests(splits: Splits) -> dict[str, str]:
    """``{array: digest}`` of every array of the splits (lengths only where the task has them)."""
    return {name: array_digest(getattr(splits, name)) for name in SPLIT_ARRAYS if getattr(splits, name) is not None}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _commit() -> str | None:
    """The git commit of the jaxgru source tree (``+dirty`` with uncommitted changes), if it is one."""
    root = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                "jaxgru"], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def _cpu() -> dict:
    """The CPU's model and the vector instruction sets XLA may compile for (its float results
    can differ between machines that differ in these)."""
    info = Path("/proc/cpuinfo")
    text = info.read_text(errors="replace") if info.is_file() else ""
    fields = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}
    flags = sorted(f for f in fields.get("flags", "").split() if f.startswith(VECTOR_SETS))
    return {"model": fields.get("model name") or platform.processor() or None, "vector": " ".join(flags) or None}


def _espeak() -> str | None:
    if shutil.which("espeak-ng") is None:
        return None
    try:
        return subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def environment(splits: Splits) -> dict:
    """The environment of a run on ``splits`` (see the module's docstring)."""
    import jax

    import jaxgru

    devices = jax.devices()
    env = {
        "jaxgru": jaxgru.__version__,
        "commit": _commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpu(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "devices": f"{len(devices)} x {devices[0].platform} ({devices[0].device_kind})",
        "packages": {p: _version(p) for p in PACKAGES},
        "variables": {v: os.environ.get(v) for v in VARIABLES},
        "data": data_digests(splits),
    }
    if splits.synthetic:
        env["espeak_ng"] = _espeak()
    return env


def environment_differences(saved: dict, now: dict, path: str = "") -> list[str]:
    """Every leaf where two environments differ, as ``path: saved -> now`` (the commit and the
    jaxgru version included: they say which code made each)."""
    out = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) or isinstance(b, dict):  # one side absent: each of the other's leaves
            out += environment_differences(a if isinstance(a, dict) else {}, b if isinstance(b, dict) else {},
                                           f"{path}{key}.")
        elif a != b:
            out.append(f"{path}{key}: {a} -> {b}")
    return out

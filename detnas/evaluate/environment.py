"""The machine and library versions a figure was measured with: latency without them is not comparable."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("detnas", "torch", "torchvision", "ultralytics", "onnx", "onnxruntime", "onnxslim", "numpy", "pycocotools")


def git_commit(root: str | Path) -> str:
    """The commit checked out at ``root`` (full hash), or ``unknown`` outside a git checkout: every benchmark result
    names the code that produced it."""
    run = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return run.stdout.strip() or "unknown"


def uncommitted_changes(root: str | Path) -> bool:
    """Whether tracked files at ``root`` differ from their commit: a result made so is not the named commit's alone."""
    run = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    return bool(run.stdout.strip())


def last_commit(root: str | Path, path: str | Path) -> tuple[str, str] | None:
    """(full hash, ISO date) of the last commit that changed ``path`` in the checkout at ``root``, or None when it is
    uncommitted or there is no git: a result built from a data file names the data's version."""
    run = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%H %cI", "--", str(path)], capture_output=True, text=True
    )
    fields = run.stdout.split()
    return (fields[0], fields[1]) if len(fields) == 2 else None


@functools.cache
def cpu_name() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else what platform reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in {"model name", "Model", "Hardware"} and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def package_versions(names: tuple[str, ...] = _PACKAGES) -> dict[str, str | None]:
    """Installed versions read from package metadata (no import, so cheap in the parent process)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def usable_cpus() -> int:
    """CPUs this process may run on (respects affinity/cgroup pinning, unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def device_name(device: str) -> str:
    """Human name of the device a figure was measured on: the CPU model, or the CUDA device name."""
    if device in {"cpu", ""} or device.startswith("cpu"):
        return cpu_name()
    try:
        import torch

        index = int(device.split(":")[-1]) if device.split(":")[-1].isdigit() else 0
        return torch.cuda.get_device_name(index)
    except Exception:  # noqa: BLE001 - a name is informational; never fail a measurement over it
        return device


# The instruction sets INT8 and BF16 kernels are chosen by on x86: virtual machines report many CPUs by one name
# ("Intel(R) Xeon(R) Processor"), so the name alone does not say whether two INT8 timings are comparable.
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


@functools.cache
def cpu_features() -> list[str]:
    """Which of ``CPU_FEATURES`` the CPU reports (Linux /proc/cpuinfo flags; empty elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return []
    for line in cpuinfo.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
            return [f for f in CPU_FEATURES if f in flags]
    return []


def environment_info() -> dict[str, Any]:
    """Everything needed to tell whether two evaluations are comparable, and the code that made them (``commit``:
    detnas's own checkout, ``unknown`` for an installed copy)."""
    checkout = Path(__file__).resolve().parents[2]
    return {
        "commit": git_commit(checkout) if (checkout / ".git").exists() else "unknown",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_name(),
        "cpu_features": cpu_features(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "versions": package_versions(),
    }

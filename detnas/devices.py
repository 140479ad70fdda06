"""Device names as users spell them (``cpu``, ``0``, ``0,1``, ``cuda:1``) turned into what torch accepts."""

from __future__ import annotations


def torch_device(device: str) -> str:
    """The torch device string for a device as Ultralytics and the CLI spell it: ``0`` and ``0,1`` (GPU indices)
    become ``cuda:0`` (one network is timed or scored on the first), ``cpu``/``cuda:N``/``mps`` stay as they are.
    Ultralytics' own ``select_device`` also sets CUDA_VISIBLE_DEVICES for the whole process, which a latency or loss
    measurement must not do."""
    device = device.strip().lower()
    if device in {"", "cpu"}:
        return "cpu"
    first = device.split(",")[0].strip()
    return f"cuda:{first}" if first.isdigit() else device

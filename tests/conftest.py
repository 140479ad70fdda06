"""Shared fixtures: the real COCO subsets, found through detnas.datasets, skip only where absent."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# tests/helpers.py sets the test environment (offline, no auto-install) on import: it comes before any detnas import.
pytest.register_assert_rewrite("tests.helpers")
from tests.helpers import shared_checkpoint  # noqa: E402

# isort: split
from detnas.datasets import DATASETS_ENV, datasets_dir  # noqa: E402


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The folder of real COCO data YAMLs; skips the test with the reason where it is missing."""
    root = datasets_dir()
    if root is None:
        pytest.skip(f"real COCO subsets not found: set {DATASETS_ENV} or place them at ../shared/datasets")
    return root


@pytest.fixture(scope="session")
def coco8(datasets: Path) -> Path:
    path = datasets / "coco8.yaml"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def coco_mini(datasets: Path) -> Path:
    path = datasets / "coco_mini.yaml"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def make_yolo_asset() -> Callable[..., Path]:
    """A stand-in for an official asset: a stock model saved and stripped the way Ultralytics ships its .pt files."""

    def make(path: Path, cfg: str = "yolo11n.yaml") -> Path:
        from ultralytics import YOLO
        from ultralytics.utils.torch_utils import strip_optimizer

        path.parent.mkdir(parents=True, exist_ok=True)
        YOLO(cfg).save(path)
        strip_optimizer(path)
        return path

    return make


BAD_CHECKPOINTS = {  # kind -> what the one-line error must say about it
    "random-bytes": "cannot be read as a PyTorch checkpoint",
    "truncated": "cannot be read as a PyTorch checkpoint",
    "text": "cannot be read as a PyTorch checkpoint",
    "classification": "classification model",
    "missing": "does not exist",
}


@dataclass(frozen=True)
class BadCheckpoint:
    """A .pt that no command may load, and what its one-line error must say."""

    kind: str
    path: Path
    says: str


def _write_bad_checkpoint(kind: str, path: Path) -> Path:
    if path.exists() or kind == "missing":
        return path
    if kind == "random-bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        data = shared_checkpoint().read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("model: yolo11n\nthis is a text file renamed .pt\n")
    elif kind == "classification":
        import torch
        from ultralytics.nn.tasks import ClassificationModel

        torch.save({"model": ClassificationModel("yolo11n-cls.yaml", nc=10, verbose=False)}, path)
    else:
        raise ValueError(f"unknown bad checkpoint kind {kind!r}: one of {sorted(BAD_CHECKPOINTS)}")
    return path


@pytest.fixture(scope="session")
def bad_checkpoints_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad_checkpoints")


@pytest.fixture(params=sorted(BAD_CHECKPOINTS))
def bad_checkpoint(request: pytest.FixtureRequest, bad_checkpoints_dir: Path) -> BadCheckpoint:
    """Each kind of unusable .pt in turn, written for real (the truncated copy skips without yolo11n.pt)."""
    kind = request.param
    path = _write_bad_checkpoint(kind, bad_checkpoints_dir / f"{kind}.pt")
    return BadCheckpoint(kind, path, BAD_CHECKPOINTS[kind])


@pytest.fixture(scope="session")
def shared_yolo11n() -> Path:
    """The COCO-trained yolo11n.pt of the shared weights; skips where absent."""
    return shared_checkpoint("yolo11n.pt")


@pytest.fixture(scope="session")
def one_error_line() -> Callable[[subprocess.CompletedProcess, Path, str], str]:
    """How every detnas command must refuse a file: ``check(result, path, says)`` asserts it."""

    def check(result: subprocess.CompletedProcess, path: Path, says: str) -> str:
        """A non-zero exit whose stderr ends in one 'error: <file>: <what is wrong>; <fix>' line, with no traceback."""
        assert result.returncode != 0, result.stdout[-2000:]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        lines = result.stderr.strip().splitlines()
        errors = [line for line in lines if line.startswith("error:")]
        assert len(errors) == 1 and lines[-1] == errors[0], result.stderr[-3000:]
        assert errors[0].startswith(f"error: {path.name}: ") or errors[0].startswith(f"error: {path}: "), errors[0]
        assert says in errors[0] and "; " in errors[0].split(says, 1)[1], errors[0]
        return errors[0]

    return check

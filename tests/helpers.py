"""What the test files share: the one test environment, the detnas command in a subprocess, a search killed with
kill -9 mid-candidate, the tiny training recipe, and the shared COCO-trained checkpoints.

``tests/conftest.py`` imports this module first, so the environment below is set before any test module loads.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from detnas.evaluate import Recipe

# Never let Ultralytics pip-install or download anything during tests: defaults for this process (a caller's own
# setting wins here), forced for every subprocess a test starts.
OFFLINE = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false"}
for _name, _value in {**OFFLINE, "YOLO_VERBOSE": "false"}.items():
    os.environ.setdefault(_name, _value)
ENV: dict[str, str] = {**os.environ, **OFFLINE}

# The tiny recipe: one epoch at 64 px in batches of 4, seconds per candidate on a CPU. Enough to exercise the
# training, store and resume mechanics; its mAP means nothing.
TINY_RECIPE = {"epochs": 1, "imgsz": 64, "batch": 4}
TINY_IMGSZ = TINY_RECIPE["imgsz"]
TINY_FLAGS = [flag for name, value in TINY_RECIPE.items() for flag in (f"--{name}", str(value))]


def load_script(path: Path):
    """A script under ``benchmarks/`` imported as a module (registered under its stem, as it imports its siblings)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(path.stem, module)
    spec.loader.exec_module(module)
    return module


def tiny_recipe(**changes: object) -> Recipe:
    """The tiny recipe as a :class:`detnas.evaluate.Recipe`, with ``changes`` applied."""
    from detnas.evaluate import Recipe

    return Recipe(**{**TINY_RECIPE, **changes})


def detnas_argv(*args: str, installed: bool = False) -> list[str]:
    """The command line of ``detnas ARGS``: ``python -m detnas``, or the installed ``detnas`` script where
    ``installed`` asks for it and one is on the PATH."""
    script = shutil.which("detnas") if installed else None
    return [script, *args] if script else [sys.executable, "-m", "detnas", *args]


def detnas(
    *args: str, timeout: float = 900, cwd: Path | None = None, installed: bool = False
) -> subprocess.CompletedProcess:
    """Run ``detnas ARGS`` in a subprocess with :data:`ENV`; stdout and stderr captured as text."""
    return subprocess.run(
        detnas_argv(*args, installed=installed), capture_output=True, text=True, env=ENV, cwd=cwd, timeout=timeout
    )


def kill_mid_candidate(
    argv: Sequence[str],
    db: Path,
    *,
    after_done: int = 1,
    running_for: float | None = 1.5,
    ready: Callable[[str], bool] | None = None,
    poll: float = 0.3,
    deadline: float = 600,
) -> tuple[str, subprocess.Popen]:
    """Start the search ``argv`` (its store at ``db``) and kill -9 it while it trains a candidate.

    The kill comes once ``after_done`` candidates are done and one is running: for at least ``running_for`` seconds
    (``None``: any running one) and, where ``ready`` is given, one for which ``ready(genome_id)`` holds. Returns the id
    of the candidate the search was killed during, and the reaped process. Fails the test if the search finished or
    stalled first (``deadline`` seconds).
    """
    proc = subprocess.Popen(list(argv), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_during = None
    end = time.monotonic() + deadline
    try:
        while time.monotonic() < end and proc.poll() is None:
            time.sleep(poll)
            if not db.exists():
                continue
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                try:
                    done = con.execute("SELECT COUNT(*) FROM candidates WHERE status = 'done'").fetchone()[0]
                    if running_for is None:
                        rows = con.execute("SELECT genome_id FROM candidates WHERE status = 'running'")
                    else:
                        rows = con.execute(
                            "SELECT genome_id FROM candidates WHERE status = 'running' AND started_at < ?",
                            (time.time() - running_for,),
                        )
                    running = [row[0] for row in rows]
                finally:
                    con.close()
            except sqlite3.Error:
                continue
            if done < after_done:
                continue
            genome_id = next((g for g in running if ready is None or ready(g)), None)
            if genome_id is not None:
                proc.send_signal(signal.SIGKILL)  # the search dies mid-training of `genome_id`
                killed_during = genome_id
                break
    finally:
        if proc.poll() is None and killed_during is None:
            proc.kill()
        proc.wait(timeout=30)
    assert killed_during is not None, "the search finished or stalled before it could be killed mid-candidate"
    return killed_during, proc


def shared_checkpoint(name: str = "yolo11n.pt") -> Path:
    """A COCO-trained checkpoint beside the shared datasets (``<datasets>/../weights/pt``); skips where absent."""
    from detnas.datasets import datasets_dir

    root = datasets_dir()
    path = root.parent / "weights" / "pt" / name if root is not None else None
    if path is None or not path.is_file():
        pytest.skip(f"COCO-trained {name} not found ({path or 'no shared datasets folder'})")
    return path


def recast(source: Path, out: Path, classes: dict[int, int], names: list[str], *, rest: int | None = None) -> Path:
    """A COCO-labelled data YAML (coco8, coco_mini ...) as a task with its own classes: its train and val image folders
    linked, each COCO class id in ``classes`` mapped to its new id, every other box mapped to ``rest`` (dropped when
    None). Returns the new data YAML."""
    import yaml

    spec = yaml.safe_load(source.read_text())
    for split in ("train", "val"):
        images = source.parent / spec[split]
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "images" / split).symlink_to(images)
        labels = out / "labels" / split
        labels.mkdir(parents=True)
        for image in images.iterdir():
            kept = []
            truth = images.parent.parent / "labels" / images.name / f"{image.stem}.txt"
            for line in truth.read_text().splitlines() if truth.is_file() else []:
                if not line.strip():
                    continue
                cls, *box = line.split()
                new = classes.get(int(cls), rest)
                if new is not None:
                    kept.append(" ".join([str(new), *box]))
            (labels / f"{image.stem}.txt").write_text("\n".join(kept) + "\n" if kept else "")
    data = out / "own.yaml"
    listing = "".join(f"  {i}: {name}\n" for i, name in enumerate(names))
    data.write_text(f"path: {out}\ntrain: images/train\nval: images/val\nnames:\n{listing}")
    return data

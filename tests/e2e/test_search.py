"""The search as a user runs it: real training on coco8, the SQLite store, resume after kill -9, failures."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detnas.errors import SearchError
from detnas.proxies import CPU_DEFAULT_PROXY
from detnas.search.loop import RunFolderLock, Search, SearchConfig
from detnas.search.store import Store

pytestmark = pytest.mark.slow
ENV = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false"}
TINY = ["--epochs", "1", "--imgsz", "64", "--batch", "4", "--proxy", "tse"]  # store mechanics: from scratch


def _detnas(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detnas.cli", *args], capture_output=True, text=True, env=ENV, timeout=timeout
    )


@pytest.fixture(scope="module")
def finished_search(coco8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("search") / "run"
    result = _detnas(
        "search", "--data", str(coco8), "--out", str(out), "--evaluations", "3", "--population", "2", *TINY
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_search_writes_every_output(finished_search: Path, coco8: Path) -> None:
    from ultralytics import YOLO

    out = finished_search
    store = Store(out / "search.sqlite")
    counts = store.counts()
    assert counts["done"] + counts["failed"] == 3
    assert counts["done"] >= 1
    seeds = [c for c in store.candidates() if c.origin == "seed:yolo11n"]
    assert len(seeds) == 1 and seeds[0].params == 2_624_080  # the seeded baseline at nc=80
    for c in store.candidates("done"):
        ev = c.evaluation
        assert ev["status"] == "ok" and ev["recipe"]["epochs"] == 1 and ev["genome_id"] == c.genome_id
        assert c.latency_ms > 0 and ev["proxy"]["proxy"] == CPU_DEFAULT_PROXY  # no --proxy given: the CPU default
        assert c.score == pytest.approx(ev["proxy"]["score"]) and math.isfinite(c.score)
        assert (c.map is None) == (CPU_DEFAULT_PROXY != "map")  # validation runs only for proxies that read mAP
    front = json.loads((out / "pareto.json").read_text())["front"]
    rows = (out / "pareto.csv").read_text().strip().splitlines()
    assert len(rows) == len(front) + 1 and front
    assert (out / "pareto.png").stat().st_size > 10_000
    assert "Pareto front" in (out / "report.md").read_text()
    for row in front:
        model = YOLO(row["yaml"])  # stock Ultralytics builds the front's YAML ...
        assert sum(p.numel() for p in model.model.parameters()) > 0
        trained = YOLO(row["weights"])  # ... and loads its trained weights
        image = next((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))
        assert len(trained.predict(str(image), imgsz=64, verbose=False)) == 1


def test_report_command_rebuilds_outputs(finished_search: Path) -> None:
    (finished_search / "pareto.csv").unlink()
    result = _detnas("report", str(finished_search))
    assert result.returncode == 0, result.stderr
    assert f"| id | score ({CPU_DEFAULT_PROXY}) | mAP50-95 |" in result.stdout
    assert (finished_search / "pareto.csv").is_file()


def test_second_process_on_same_folder_is_refused(finished_search: Path) -> None:
    with RunFolderLock(finished_search):
        result = _detnas("search", "--resume", str(finished_search))
    assert result.returncode == 1
    assert "in use" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_new_search_over_existing_one_is_refused(finished_search: Path, coco8: Path) -> None:
    result = _detnas("search", "--data", str(coco8), "--out", str(finished_search), *TINY)
    assert result.returncode == 1
    assert "--resume" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_data_is_one_line(tmp_path: Path) -> None:
    result = _detnas("search", "--data", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "missing.yaml" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "search.sqlite").exists()


def test_constraints_are_checked_before_training(coco8: Path, tmp_path: Path) -> None:
    from detnas.evaluate import Recipe
    from detnas.search.config import Constraints

    config = SearchConfig(
        data=str(coco8),
        evaluations=1,
        population=2,
        seeds=("yolov8n",),
        recipe=Recipe(epochs=1, imgsz=64, batch=4),
        constraints=Constraints(max_params=3_000_000),
    )
    search = Search.create(tmp_path / "run", config)
    search.run(progress=None)
    infeasible = search.store.candidates("infeasible")
    assert infeasible and infeasible[0].origin == "seed:yolov8n"  # 3,157,200 params > 3,000,000
    for c in infeasible:
        assert c.evaluation is None and "params" in c.error and c.params > 3_000_000
        assert not (tmp_path / "run" / "candidates" / c.genome_id / "eval").exists()  # never trained
    trained = search.store.candidates("done", "failed")
    assert len(trained) == 1 and trained[0].params <= 3_000_000


def test_search_whose_every_candidate_fails_stops(coco8: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _detnas(
        "search",
        "--data",
        str(coco8),
        "--out",
        str(out),
        "--evaluations",
        "6",
        "--population",
        "2",
        "--max-failures",
        "2",
        "--timeout",
        "0.5",
        *TINY,
    )
    assert result.returncode == 1, result.stderr
    assert "the last 2 candidates all failed" in result.stderr
    store = Store(out / "search.sqlite")
    failed = store.candidates("failed")
    assert len(failed) == 2 and store.counts()["done"] == 0
    assert all("timeout" in c.error for c in failed)


def test_resume_after_kill_9_loses_and_repeats_nothing(coco8: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["search", "--data", str(coco8), "--out", str(out), "--evaluations", "4", "--population", "2", *TINY]
    proc = subprocess.Popen(
        [sys.executable, "-m", "detnas.cli", *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    db = out / "search.sqlite"
    deadline = time.monotonic() + 600
    killed_during = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            if not db.exists():
                continue
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                done = con.execute("SELECT COUNT(*) FROM candidates WHERE status = 'done'").fetchone()[0]
                running = con.execute(
                    "SELECT genome_id FROM candidates WHERE status = 'running' AND started_at < ?", (time.time() - 1.5,)
                ).fetchone()
                con.close()
            except sqlite3.Error:
                continue
            if done >= 1 and running:
                proc.send_signal(signal.SIGKILL)  # the driver dies mid-training of `running`
                killed_during = running[0]
                break
    finally:
        if proc.poll() is None and killed_during is None:
            proc.kill()
        proc.wait(timeout=30)
    assert killed_during is not None, "the search finished or stalled before it could be killed mid-candidate"
    time.sleep(2)
    assert not _workers_writing_into(out), "a training worker outlived its killed search"
    before = Store(db)
    finished_before = {c.genome_id: (c.evaluation_json, c.finish_order) for c in before.candidates("done", "failed")}
    assert before.get(killed_during).status == "running"
    before.close()

    result = _detnas("search", "--resume", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    after = Store(db)
    trained = after.candidates("done", "failed")
    assert len(trained) == 4  # the budget, no more
    assert len({c.genome_id for c in after.candidates()}) == len(after.candidates())  # no genome twice
    for genome_id, (evaluation, order) in finished_before.items():
        row = after.get(genome_id)
        assert (row.evaluation_json, row.finish_order, row.attempts) == (evaluation, order, 1)  # kept, not re-run
    interrupted = after.get(killed_during)
    assert interrupted.status in ("done", "failed") and interrupted.attempts == 2  # re-run once


def _workers_writing_into(folder: Path) -> list[int]:
    """PIDs of evaluation workers whose command line points into ``folder``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "detnas.evaluate.worker" in cmdline and str(folder) in cmdline:
            pids.append(int(proc.name))
    return pids


def test_config_round_trip_and_validation(coco8: Path) -> None:
    config = SearchConfig(data=str(coco8), strategy="random", seeds=("yolo11n", "yolov8n"))
    assert SearchConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="strategy"):
        SearchConfig(data="x", strategy="bayes")
    with pytest.raises(ValueError, match="yolo11n"):
        SearchConfig(data="x", seeds=("yolo12q",))
    with pytest.raises(SearchError, match="holds no search"):
        Search.open(Path("/nonexistent/run"))

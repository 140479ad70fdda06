"""The search as a user runs it: real training on coco8, the SQLite store, resume after kill -9, failures."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from detnas.errors import SearchError
from detnas.proxies import CPU_DEFAULT_PROXY
from detnas.search.loop import RunFolderLock, Search, SearchConfig
from detnas.search.store import Store
from tests.helpers import TINY_FLAGS, detnas, detnas_argv, kill_mid_candidate, tiny_recipe

TINY = [*TINY_FLAGS, "--proxy", "tse"]  # store mechanics: from scratch


@pytest.fixture(scope="module")
def finished_search(coco8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("search") / "run"
    result = detnas("search", "--data", str(coco8), "--out", str(out), "--evaluations", "3", "--population", "2", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
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


@pytest.mark.slow
def test_report_command_rebuilds_outputs(finished_search: Path) -> None:
    (finished_search / "pareto.csv").unlink()
    result = detnas("report", str(finished_search))
    assert result.returncode == 0, result.stderr
    assert f"| id | score ({CPU_DEFAULT_PROXY}) | mAP50-95 |" in result.stdout
    assert (finished_search / "pareto.csv").is_file()


@pytest.mark.slow
def test_second_process_on_same_folder_is_refused(finished_search: Path) -> None:
    with RunFolderLock(finished_search):
        result = detnas("search", "--resume", str(finished_search))
    assert result.returncode == 1
    assert "in use" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_new_search_over_existing_one_is_refused(finished_search: Path, coco8: Path) -> None:
    result = detnas("search", "--data", str(coco8), "--out", str(finished_search), *TINY)
    assert result.returncode == 1
    assert "--resume" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_data_is_one_line(tmp_path: Path) -> None:
    result = detnas("search", "--data", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "missing.yaml" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "search.sqlite").exists()


@pytest.mark.slow
def test_constraints_are_checked_before_training(coco8: Path, tmp_path: Path) -> None:
    from detnas.search.config import Constraints

    config = SearchConfig(
        data=str(coco8),
        evaluations=1,
        population=2,
        seeds=("yolov8n",),
        recipe=tiny_recipe(),
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


@pytest.mark.slow
def test_search_whose_every_candidate_fails_stops(coco8: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = detnas(
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


@pytest.mark.slow
def test_resume_after_kill_9_loses_and_repeats_nothing(coco8: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["search", "--data", str(coco8), "--out", str(out), "--evaluations", "4", "--population", "2", *TINY]
    db = out / "search.sqlite"
    killed_during, _ = kill_mid_candidate(detnas_argv(*args), db, after_done=1)
    time.sleep(2)
    assert not _workers_writing_into(out), "a training worker outlived its killed search"
    before = Store(db)
    finished_before = {c.genome_id: (c.evaluation_json, c.finish_order) for c in before.candidates("done", "failed")}
    assert before.get(killed_during).status == "running"
    before.close()

    result = detnas("search", "--resume", str(out))
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


@pytest.mark.slow
def test_cli_rl_search_resumes_after_kill_9(coco8: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["search", "--strategy", "rl", "--data", str(coco8), "--out", str(out), "--evaluations", "4", *TINY]
    db = out / "search.sqlite"
    killed_during, _ = kill_mid_candidate(detnas_argv(*args), db, after_done=2)
    before = Store(db)
    policy_before = before.strategy_state("policy")
    assert policy_before is not None and policy_before["processed"], "the policy was not saved with its proposals"
    assert before.get_meta("config")["strategy"] == "rl"
    before.close()

    result = detnas("search", "--resume", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    after = Store(db)
    assert len(after.candidates("done", "failed")) == 4
    assert len({c.genome_id for c in after.candidates()}) == len(after.candidates())
    assert after.get(killed_during).attempts == 2
    policy_after = after.strategy_state("policy")
    # the resumed policy continued the saved one: what it had learned from is a prefix of what it learns from now
    assert policy_after["processed"][: len(policy_before["processed"])] == policy_before["processed"]


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

"""RayExecutor as a search uses it: real training on coco8 on a local Ray instance, two candidates at once, Ray
workers killed mid-evaluation, a driver killed with kill -9 and resumed, and the one-line message without ray."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from detnas.designs import named_design
from detnas.search.executor import Evaluator, Job
from detnas.search.loop import Search, SearchConfig
from detnas.search.ray_executor import RAY_MISSING, ExecutorSpec, RayExecutor, attempt_record, make_executor
from detnas.search.store import Store
from tests.helpers import ENV, TINY_RECIPE, detnas, kill_mid_candidate, tiny_recipe

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'detnas[ray]')")
TINY = tiny_recipe()


@pytest.fixture(autouse=True)
def _no_ray_left_behind():
    """Each test starts from no Ray connection and leaves none, whatever it asserted."""
    yield
    if HAS_RAY:
        import ray

        ray.shutdown()


def _config(coco8: Path, evaluations: int) -> SearchConfig:
    return SearchConfig(data=str(coco8), evaluations=evaluations, population=2, recipe=TINY)


def _evaluator(fake: type[Evaluator], base: Evaluator, **extra: object) -> Evaluator:
    return fake(**{f.name: getattr(base, f.name) for f in fields(base)}, **extra)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


# ---- without Ray: flags and the missing-ray message ----


def test_missing_ray_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError, installed or not
    evaluator = Evaluator(data=tmp_path / "data.yaml", recipe=TINY)
    with pytest.raises(ValueError) as error:
        make_executor("ray", evaluator, workers=2)
    assert str(error.value) == RAY_MISSING == "ray is not installed: pip install 'detnas[ray]'"
    assert type(make_executor("local", evaluator)).__name__ == "LocalExecutor"  # local needs no ray


def test_cli_without_ray_says_how_to_install(tmp_path: Path) -> None:
    help_text = detnas("search", "--help").stdout
    if "--executor" not in help_text:
        pytest.skip("detnas search has no --executor flag yet")
    code = (
        "import sys; sys.modules['ray'] = None; from detnas.cli import main; "
        f"sys.exit(main(['search', '--out', {str(tmp_path / 'run')!r}, '--executor', 'ray', '--workers', '2']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: {RAY_MISSING}"
    assert not (tmp_path / "run").exists()  # refused before any folder was written


def test_flags_are_checked_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="unknown"):
        ExecutorSpec("dask")
    with pytest.raises(ValueError, match="--workers 2 needs --executor ray"):
        ExecutorSpec("local", workers=2)
    with pytest.raises(ValueError, match="--ray-address needs --executor ray"):
        ExecutorSpec("local", address="auto")
    if HAS_RAY:
        with pytest.raises(ValueError, match="--workers must be >= 1"):
            ExecutorSpec("ray", workers=0)
        with pytest.raises(ValueError, match="whole number"):
            ExecutorSpec("ray", gpus_per_trial=1.5)
        spec = ExecutorSpec("ray", gpus_per_trial=1)
        with pytest.raises(ValueError, match="--device 0"):
            spec.check_device("cpu")
        spec.check_device("0")
        with pytest.raises(ValueError, match="--gpus-per-trial > 0"):
            ExecutorSpec("ray").check_device("0")


# ---- real searches on a local Ray instance ----


@needs_ray
@pytest.mark.slow
def test_search_runs_two_candidates_at_once(coco8: Path, tmp_path: Path) -> None:
    search = Search.create(tmp_path / "run", _config(coco8, evaluations=4))
    search.executor = RayExecutor(search.evaluator, workers=2)
    counts = search.run(progress=None)
    assert counts["done"] + counts["failed"] == 4 and counts["done"] >= 1
    assert counts["pending"] == counts["running"] == 0
    spans = []
    for c in search.store.candidates("done", "failed"):
        record = attempt_record(search.folder / "candidates" / c.genome_id / "eval")
        assert record is not None and record["attempt"] == 1 and c.attempts == 1
        spans.append((record["started"], c.finished_at, record["pid"]))
    overlaps = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if max(a[0], b[0]) + 1.0 < min(a[1], b[1])]
    assert overlaps, f"no two evaluations ran at the same time: {spans}"
    assert all(a[2] != b[2] for a, b in overlaps)  # in two Ray worker processes


@pytest.mark.slow
@needs_ray
def test_private_instance_stays_on_loopback(coco8: Path, tmp_path: Path) -> None:
    import ray

    executor = RayExecutor(Evaluator(data=coco8, recipe=tiny_recipe()), workers=1)
    executor.start()
    try:
        assert ray.util.get_node_ip_address() == "127.0.0.1"  # nothing listens on the machine's network address
        nodes = ray.nodes()
        assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
    finally:
        executor.shutdown()


@dataclass(frozen=True)
class WorkerKillingEvaluator(Evaluator):
    """Kills its own Ray worker whenever it is asked to evaluate ``doomed``: a crash no retry can cure."""

    doomed: str = ""

    def evaluate(self, job: Job):
        if job.genome_id == self.doomed:
            os.kill(os.getpid(), signal.SIGKILL)
        return Evaluator.evaluate(self, job)


@needs_ray
@pytest.mark.slow
def test_retries_are_bounded_then_the_candidate_fails_and_the_search_goes_on(coco8: Path, tmp_path: Path) -> None:
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    seed = named_design("yolo11n", nc=80).id  # the first candidate a search proposes
    search = Search.create(tmp_path / "run", _config(coco8, evaluations=2))
    evaluator = _evaluator(WorkerKillingEvaluator, search.evaluator, doomed=seed)
    search.executor = RayExecutor(evaluator, workers=2, max_retries=1)
    counts = search.run(progress=None)
    assert (counts["done"], counts["failed"]) == (1, 1)
    failed = search.store.get(seed)
    assert failed.status == "failed" and failed.attempts == 1
    assert "Ray worker crashed in all 2 attempt(s) (max_retries=1)" in failed.error
    assert "WorkerCrashedError" in failed.error
    assert failed.evaluation["genome_id"] == seed and failed.evaluation["status"] == "failed"
    assert attempt_record(search.folder / "candidates" / seed / "eval")["attempt"] == 2


@needs_ray
@pytest.mark.slow
def test_killed_ray_worker_is_retried_from_a_clean_workdir(coco8: Path, tmp_path: Path) -> None:
    search = Search.create(tmp_path / "run", _config(coco8, evaluations=2))
    search.executor = RayExecutor(search.evaluator, workers=2)
    killed: dict[str, object] = {}
    stop = threading.Event()

    def kill_one_worker_mid_evaluation() -> None:
        while not stop.is_set():
            for path in search.folder.glob("candidates/*/eval/progress.json"):
                workdir = path.parent
                record = attempt_record(workdir)
                if record and record["attempt"] == 1 and not (workdir / "result.json").exists():
                    children = _children(record["pid"])  # the evaluation child training this candidate
                    (workdir / "stale_from_attempt_1").write_text("must be gone after the retry\n")
                    os.kill(record["pid"], signal.SIGKILL)
                    killed.update(workdir=workdir, pid=record["pid"], children=children)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker_mid_evaluation, daemon=True)
    killer.start()
    try:
        counts = search.run(progress=None)
    finally:
        stop.set()
        killer.join(timeout=10)
    assert killed, "no evaluation was caught running"
    workdir = Path(killed["workdir"])
    assert counts["done"] + counts["failed"] == 2
    row = search.store.get(workdir.parent.name)
    assert row.status == "done", row.error  # the retry trained it
    assert row.attempts == 1  # one submission by the driver; the retry stayed inside the executor
    assert attempt_record(workdir)["attempt"] == 2
    assert not (workdir / "stale_from_attempt_1").exists()  # the retry started from a clean workdir
    assert killed["children"] and not any(_alive(pid) for pid in killed["children"])  # no orphan training


DRIVER = f"""
import sys
from pathlib import Path
from detnas.evaluate import Recipe
from detnas.search.ray_executor import RayExecutor
from detnas.search.loop import Search, SearchConfig

out, data = Path(sys.argv[1]), sys.argv[2]
if (out / "search.sqlite").exists():
    search = Search.open(out)
else:
    config = SearchConfig(data=data, evaluations=3, population=2, recipe=Recipe(**{TINY_RECIPE!r}))
    search = Search.create(out, config)
search.executor = RayExecutor(search.evaluator, workers=2)
search.run(progress=None)
"""


def _processes(pattern: str) -> list[int]:
    """PIDs whose command line matches ``pattern``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace").replace("\0", " ")
        except OSError:
            continue
        if re.search(pattern, text) and _alive(int(cmdline.parent.name)):
            found.append(int(cmdline.parent.name))
    return found


def _holding_session_of(driver_pid: int) -> list[int]:
    """Live processes with a file open in the Ray session folder of a local instance started by ``driver_pid``
    (Ray names it ``session_<date>_<time>_<driver pid>``)."""
    pattern = re.compile(rf"/session_[0-9_-]+_{driver_pid}/")
    found = set()
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if pattern.search(target) and _alive(int(fd.parent.parent.name)):
            found.add(int(fd.parent.parent.name))
    return sorted(found - {os.getpid()})


@needs_ray
@pytest.mark.slow
def test_driver_killed_and_resumed_loses_nothing(coco8: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    db = out / "search.sqlite"

    def training(genome_id: str) -> bool:  # a Ray worker has started and reported progress on `genome_id`
        workdir = out / "candidates" / genome_id / "eval"
        return bool(attempt_record(workdir)) and (workdir / "progress.json").exists()

    driver = [sys.executable, "-c", DRIVER, str(out), str(coco8)]
    # the driver dies while a Ray worker trains `killed_during`
    killed_during, proc = kill_mid_candidate(driver, db, running_for=None, ready=training, poll=0.2, deadline=300)
    time.sleep(3)
    worker_pid = attempt_record(out / "candidates" / killed_during / "eval")["pid"]
    try:
        assert not _alive(worker_pid), "the Ray worker outlived its killed driver"
        assert not _processes(rf"detnas\.evaluate\.worker .*{re.escape(str(out))}"), "orphan training run"
    finally:
        # Ray leaves the two idle agents of a local instance behind when its driver is killed with kill -9 (gcs,
        # raylet and workers do die); they are this test's to end.
        for pid in _holding_session_of(proc.pid):
            os.kill(pid, signal.SIGKILL)
    before = Store(db)
    finished = {c.genome_id: (c.evaluation_json, c.finish_order) for c in before.candidates("done", "failed")}
    assert before.get(killed_during).status == "running" and finished
    before.close()

    result = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out), str(coco8)], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    after = Store(db)
    assert len(after.candidates("done", "failed")) == 3  # the budget, no more
    for genome_id, (evaluation, order) in finished.items():
        row = after.get(genome_id)
        assert (row.evaluation_json, row.finish_order, row.attempts) == (evaluation, order, 1)  # kept, not re-run
    interrupted = after.get(killed_during)
    assert interrupted.status in ("done", "failed") and interrupted.attempts == 2

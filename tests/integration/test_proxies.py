"""Candidate scores: rank agreement maths, training-free scores, weight inheritance and the parent, validation loss,
and the proxies as the evaluation worker and the search run them (real models, real coco8 batches, real training)."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import torch

from detnas.architecture import build_model, write_yaml
from detnas.designs import yolo11n, yolov8n
from detnas.evaluate import InputError, evaluate_candidate
from detnas.evaluate.parent import PARENT_CHANNELS, PARENT_MANIFEST, parent_genome, parent_yaml
from detnas.inherit.candidate import inherit, save_checkpoint
from detnas.inherit.checkpoint import PARENT_WEIGHTS, load_parent
from detnas.inherit.transfer import layer_roles
from detnas.proxies import PROXIES, get_proxy, training_speed_estimate
from detnas.proxies.agreement import average_ranks, bootstrap_interval, kendall_tau_b, spearman_rho
from detnas.proxies.training_free import SCORES, real_batches, training_free_score
from detnas.search.store import Store
from tests.helpers import ENV, detnas, detnas_argv, tiny_recipe

TINY = tiny_recipe()


# ---- rank agreement ----


def test_kendall_and_spearman_match_hand_computed_values() -> None:
    x, y = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    assert kendall_tau_b(x, y) == pytest.approx(0.6)  # 8 concordant, 2 discordant pairs
    assert spearman_rho(x, y) == pytest.approx(0.8)  # 1 - 6 * 4 / (5 * 24)
    assert kendall_tau_b(x, x[::-1]) == pytest.approx(-1.0) and spearman_rho(x, x[::-1]) == pytest.approx(-1.0)
    # tau-b with a tie in x: 5 concordant, 0 discordant, one pair tied in x only -> 5 / sqrt(6 * 5)
    assert kendall_tau_b([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30))
    assert average_ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]
    assert math.isnan(kendall_tau_b([0, 0, 0], [1, 2, 3])) and math.isnan(spearman_rho([0, 0, 0], [1, 2, 3]))
    with pytest.raises(ValueError, match="differ in length"):
        kendall_tau_b([1, 2], [1])


def test_bootstrap_interval_brackets_the_estimate() -> None:
    x = [0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.2, 0.5, 0.65, 0.3, 0.95, 0.05]
    y = [0.2, 0.3, 0.5, 0.7, 0.9, 0.8, 0.1, 0.4, 0.6, 0.35, 1.0, 0.0]
    low, high = bootstrap_interval(kendall_tau_b, x, y, resamples=500)
    assert -1.0 <= low <= kendall_tau_b(x, y) <= high <= 1.0 and high - low > 0.05
    assert bootstrap_interval(kendall_tau_b, x, y, resamples=500) == (low, high)  # seeded


def test_training_speed_estimate_rewards_lower_losses() -> None:
    assert training_speed_estimate([9.0, 7.0]) == -8.0 > training_speed_estimate([10.0, 9.0])
    with pytest.raises(ValueError):
        training_speed_estimate([])


def test_unknown_proxy_is_one_line() -> None:
    with pytest.raises(InputError, match="unknown proxy 'fast'.*choose one of map, val-loss"):
        get_proxy("fast")


# ---- training-free scores on a real model and real coco8 batches ----


@pytest.fixture(scope="module")
def batches(coco8: Path) -> list[dict]:
    return real_batches(coco8, imgsz=64, batch=4, count=3)


def test_real_batches_cycle_a_small_split(batches: list[dict]) -> None:
    assert len(batches) == 3 and all(b["img"].shape == (4, 3, 64, 64) for b in batches)  # 12 draws from 4 images
    assert all(float(b["img"].min()) >= 0.0 and float(b["img"].max()) <= 1.0 for b in batches)
    assert sum(len(b["cls"]) for b in batches) > 0  # real labels come along (ZiCo needs them)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCORES))
def test_training_free_scores_are_finite_and_deterministic(name: str, batches: list[dict], tmp_path: Path) -> None:
    arch = write_yaml(yolo11n(), tmp_path / "a.yaml")
    first = training_free_score(name, arch, 80, batches)
    assert math.isfinite(first)
    assert training_free_score(name, arch, 80, batches) == pytest.approx(first, rel=1e-6)


@pytest.mark.slow
def test_training_free_scores_see_capacity(batches: list[dict], tmp_path: Path) -> None:
    small, large = write_yaml(yolo11n(), tmp_path / "s.yaml"), write_yaml(parent_genome(), tmp_path / "l.yaml")
    assert training_free_score("params", small, 80, batches) == 2_624_080
    for name in ("params", "synflow", "zico"):  # 30M-parameter parent vs YOLO11n
        assert training_free_score(name, large, 80, batches) > training_free_score(name, small, 80, batches), name


def test_zico_needs_two_batches(batches: list[dict], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2 batches"):
        training_free_score("zico", write_yaml(yolo11n(), tmp_path / "a.yaml"), 80, batches[:1])


# ---- weight inheritance from the parent ----


@pytest.fixture(scope="module")
def parent_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished parent folder as `detnas parent train` leaves it (manifest, YAML, train/weights/last.pt), its
    weights perturbed with seeded noise so that every inherited tensor is told apart from a fresh initialisation."""
    folder = tmp_path_factory.mktemp("parent")
    parent_yaml(folder, 80)
    torch.manual_seed(0)
    model = build_model(parent_genome(), nc=80)
    noise = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=noise))
                if name.endswith("running_var"):
                    tensor.abs_()
    save_checkpoint(model, folder / PARENT_WEIGHTS)
    manifest = json.loads((folder / PARENT_MANIFEST).read_text())
    (folder / PARENT_MANIFEST).write_text(json.dumps(manifest | {"complete": True}))
    return folder


def test_parent_genome_is_pinned() -> None:
    """The space grew (P2 128, P3 256); the parent must not, or every trained parent folder becomes another genome."""
    parent = parent_genome()
    assert parent.id == "5133e9849ea9"
    assert PARENT_CHANNELS == {2: 96, 3: 160, 4: 256, 5: 512}
    stages = [(stage.down_channels, stage.block.channels) for stage in parent.backbone.stages]
    assert stages == [(96, 96), (160, 160), (256, 256), (512, 512)]


@pytest.mark.slow
def test_inheritance_from_a_parent_folder(parent_folder: Path) -> None:
    """YOLO11n from the parent: most of it inherited, channels and BN statistics travel together, the 3x3 kernel is
    the centre of the parent's 5x5, head branches keep their pyramid level, and the same seed gives the same start."""
    parent = load_parent(parent_folder)
    assert parent.genome == parent_genome() and parent.path == parent_folder / PARENT_WEIGHTS
    child_genome = yolo11n()
    child, inheritance = inherit(child_genome, [parent], nc=80, seed=0)
    assert 0.5 < inheritance.fraction < 1.0 and inheritance.layers_inherited == inheritance.layers_total
    c, p = child.state_dict(), parent.model.state_dict()
    # stem: 16 of the parent's 64 filters, each with its own BatchNorm statistics
    parent_stem = list(p["model.0.conv.weight"])
    stem = [next(i for i, row in enumerate(parent_stem) if torch.equal(row, mine)) for mine in c["model.0.conv.weight"]]
    assert len(set(stem)) == 16
    assert torch.equal(c["model.0.bn.running_var"], p["model.0.bn.running_var"][stem])
    # P2 down-sampler: parent 5x5 -> child 3x3 is the kernel's centre, its inputs are the stem channels kept
    centre = p["model.1.conv.weight"][:, stem, 1:4, 1:4]
    assert all(any(torch.equal(row, q) for q in centre) for row in c["model.1.conv.weight"])
    # Detect: the child's P4 and P5 branches come from the parent's P4 and P5 ones (the parent's first is P2)
    roles, parent_roles = layer_roles(child_genome), layer_roles(parent.genome)
    assert roles[-1] == parent_roles[-1] == "Detect#0" and "P2/4 td2#0" in parent_roles
    head, parent_head = len(roles) - 1, len(parent_roles) - 1
    for branch in (1, 2):
        key = f"model.{head}.cv3.{branch}.2.bias"
        assert torch.equal(c[key], p[f"model.{parent_head}.cv3.{branch + 1}.2.bias"]), key

    again, repeat = inherit(child_genome, [parent], nc=80, seed=0)
    assert repeat == inheritance
    assert all(torch.equal(value, c[key]) for key, value in again.state_dict().items())


@pytest.mark.slow
def test_inherit_proxy_trains_from_the_parent(coco8: Path, tmp_path: Path) -> None:
    """`detnas parent train`, then the inherit proxy: with a vanishing learning rate the trained weights must still be
    the inherited ones, which proves training started from them (and not from scratch)."""
    parent_dir = tmp_path / "parent"
    made = detnas("parent", "train", "--data", str(coco8), "--out", str(parent_dir), "--epochs", "1", "--imgsz", "64")
    assert made.returncode == 0, made.stderr[-2000:]
    assert "use it with: detnas search --proxy inherit" in made.stdout
    again = detnas("parent", "train", "--data", str(coco8), "--out", str(parent_dir), "--epochs", "2", "--imgsz", "64")
    assert again.returncode == 2 and "use a new --out folder" in again.stderr and "Traceback" not in again.stderr

    arch = write_yaml(yolov8n(), tmp_path / "v8.yaml")
    frozen = tiny_recipe(lr0=1e-12, warmup_epochs=0.0)
    weights = parent_dir / "train" / "weights" / "last.pt"
    ev = evaluate_candidate(
        arch, coco8, frozen, workdir=tmp_path / "ev", latency_backend=None, proxy="inherit", parents=weights
    )
    assert ev.ok, ev.failure_reason
    assert ev.proxy is not None and ev.proxy.proxy == "inherit" and math.isfinite(ev.proxy.score)
    assert (
        ev.proxy.score == pytest.approx(-ev.proxy.details["val_loss"]) and ev.proxy.details["inherited_fraction"] > 0.5
    )
    inherited = torch.load(tmp_path / "ev" / "inherited.pt", weights_only=False)["model"].state_dict()
    trained = torch.load(ev.weights_last, weights_only=False)["model"].float().state_dict()
    assert torch.allclose(trained["model.0.conv.weight"], inherited["model.0.conv.weight"], atol=1e-3)
    parent_stem = torch.load(weights, weights_only=False)["model"].float().state_dict()["model.0.conv.weight"]
    for row in inherited["model.0.conv.weight"]:  # each inherited stem filter is one of the parent's
        assert any(torch.allclose(row, p, atol=1e-3) for p in parent_stem)


def test_inherit_without_parent_is_one_line(coco8: Path, tmp_path: Path) -> None:
    arch = write_yaml(yolo11n(), tmp_path / "a.yaml")
    with pytest.raises(InputError, match="needs parent checkpoints"):
        evaluate_candidate(arch, coco8, TINY, workdir=tmp_path / "ev", proxy="inherit")
    result = detnas("search", "--data", str(coco8), "--out", str(tmp_path / "s"), "--proxy", "inherit")
    assert result.returncode == 2 and "needs --parent" in result.stderr and "Traceback" not in result.stderr
    result = detnas("search", "--data", str(coco8), "--out", str(tmp_path / "s"), "--proxy", "inherit", "--parent", "x")
    assert result.returncode == 2 and "x does not exist" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_parent_training_resumes_after_kill(coco8: Path, tmp_path: Path) -> None:
    out = tmp_path / "parent"
    args = ["parent", "train", "--data", str(coco8), "--out", str(out), "--epochs", "6", "--imgsz", "64"]
    proc = subprocess.Popen(
        detnas_argv(*args),
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    snapshot = out / "resume.pt"
    deadline = time.time() + 600
    while not snapshot.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # possibly in the middle of writing last.pt: resume must not care
    proc.wait()
    manifest = json.loads((out / "parent.json").read_text())
    assert snapshot.is_file() and not manifest.get("complete"), "the run must be killed after its first checkpoint"
    done_before = len((out / "train" / "results.csv").read_text().strip().splitlines()) - 1
    assert 1 <= done_before < 6

    result = detnas(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "parent resumed and finished" in result.stdout
    epochs = [int(float(line.split(",")[0])) for line in (out / "train" / "results.csv").read_text().splitlines()[1:]]
    assert epochs == [1, 2, 3, 4, 5, 6]  # continued where it stopped, not restarted
    assert json.loads((out / "parent.json").read_text())["complete"] is True and not snapshot.exists()


# ---- validation loss ----


@pytest.mark.slow
def test_validation_loss_of_a_trained_checkpoint(coco8: Path, tmp_path: Path) -> None:
    from detnas.proxies.val_loss import validation_loss

    arch = write_yaml(yolo11n(), tmp_path / "a.yaml")
    ev = evaluate_candidate(arch, coco8, TINY, workdir=tmp_path / "ev", latency_backend=None, proxy="val-loss")
    assert ev.ok, ev.failure_reason
    loss = validation_loss(ev.weights_last, coco8, imgsz=64)
    assert loss.images == 4 and all(v > 0 for v in (loss.box, loss.cls, loss.dfl))
    assert ev.proxy is not None and ev.proxy.score == pytest.approx(-loss.total, rel=1e-4)
    assert ev.proxy.details["tse"] == pytest.approx(-sum(ev.epochs[0].values()))


# ---- proxies in the worker and the search ----


@pytest.mark.slow
def test_training_free_proxy_skips_training(coco8: Path, tmp_path: Path) -> None:
    arch = write_yaml(yolo11n(), tmp_path / "a.yaml")
    ev = evaluate_candidate(
        arch, coco8, TINY, workdir=tmp_path / "ev", proxy="zico", latency_runs=3, latency_cache=tmp_path / "lc.json"
    )
    assert ev.ok and ev.proxy is not None and ev.proxy.proxy == "zico" and math.isfinite(ev.proxy.score)
    assert ev.phase_seconds["train"] == 0.0 and ev.metrics is None and ev.weights_last is None
    assert ev.latency is not None and ev.latency.median_ms > 0
    assert not (tmp_path / "ev" / "train").exists()


@pytest.mark.slow
def test_search_with_a_training_free_proxy(coco8: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = detnas(
        "search", "--data", str(coco8), "--out", str(out), "--evaluations", "4", "--population", "2", "--imgsz", "64",
        "--proxy", "synflow",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    store = Store(out / "search.sqlite")
    done = store.candidates("done")
    assert len(done) == 4 and all(c.score is not None and c.map is None and c.latency_ms for c in done)
    assert store.get_meta("config")["proxy"] == "synflow"
    front = json.loads((out / "pareto.json").read_text())["front"]
    assert front and all(row["proxy"] == "synflow" for row in front)
    assert "score (synflow)" in (out / "report.md").read_text()


def test_store_written_before_proxies_gets_score_from_map(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = Store(path)
    g = yolo11n()
    store.add_candidate(genome_id=g.id, genome_json=g.to_json(), yaml="x", origin="sample", parents=(), state={})
    store.finish(g.id, status="done", evaluation={}, map=0.25, latency_ms=3.0)
    store.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE candidates DROP COLUMN score")  # the schema before proxies
    db.commit()
    db.close()
    assert Store(path).get(g.id).score == 0.25


def test_every_proxy_is_documented() -> None:
    from detnas.cli import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["search"].format_help()
    for name in PROXIES:
        assert name in help_text


def test_default_proxy_depends_on_device_and_old_searches_keep_map(coco8: Path) -> None:
    from detnas.proxies import CPU_DEFAULT_PROXY
    from detnas.search.loop import SearchConfig

    assert SearchConfig(data=str(coco8)).proxy == CPU_DEFAULT_PROXY
    assert SearchConfig(data=str(coco8), device="0").proxy == "map"
    assert SearchConfig(data=str(coco8), proxy="zico").proxy == "zico"
    stored = SearchConfig(data=str(coco8)).to_dict()
    del stored["proxy"], stored["parent"]  # a config written before proxies existed
    assert SearchConfig.from_dict(stored).proxy == "map"

"""The over-sized parent of the search space and its resumable training (``detnas parent train``).

The parent is a genome of the space at the top of its width, depth and kernel ranges (the widths of
``PARENT_CHANNELS``, 4 repeats, expansion 0.75, 5x5 strided convolutions, SPPF + 2 C2PSA, a P2-P5 PAN neck). It is
trained once, resumably, and reused across searches: ``--proxy inherit --parent DIR`` starts every candidate from
its weights through ``detnas.inherit`` (which reads the manifest written here). Training belongs with the evaluator,
so the parent lives here and not among the proxies.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detnas.architecture import write_yaml
from detnas.backbone_space.genome import STAGE_LEVELS, BackboneGenome, StageGene
from detnas.blocks import BlockGene
from detnas.evaluate.recipe import Recipe
from detnas.genome import ArchGenome, HeadGenome
from detnas.inherit.checkpoint import PARENT_MANIFEST, PARENT_WEIGHTS
from detnas.neck_space.genome import NeckGenome, node_level, node_names

__all__ = [
    "PARENT_CHANNELS",
    "PARENT_MANIFEST",
    "RESUME_CHECKPOINT",
    "ParentRun",
    "parent_genome",
    "parent_manifest",
    "parent_weights",
    "parent_yaml",
    "train_parent",
]

RESUME_CHECKPOINT = "resume.pt"  # whole copy of the latest epoch's checkpoint; what an interrupted run resumes from

# The parent's width per pyramid level, pinned: it used to be max(LEVEL_CHANNELS[level]), but the space later gained
# 128 at P2 and 256 at P3 (YOLO11s). Parents already trained (and the fidelity benchmark's figures) are this genome,
# id 5133e9849ea9 at nc=80; following the space would silently make every existing parent folder a different genome.
PARENT_CHANNELS: dict[int, int] = {2: 96, 3: 160, 4: 256, 5: 512}


def parent_genome(*, nc: int = 80) -> ArchGenome:
    """The over-sized parent: the pinned widths, every other range of the space at its top, C3k2 blocks."""

    def block(level: int) -> BlockGene:
        return BlockGene("C3k2", repeats=4, channels=PARENT_CHANNELS[level], expansion=0.75)

    stages = tuple(StageGene("Conv", 5, PARENT_CHANNELS[level], block(level)) for level in STAGE_LEVELS)
    backbone = BackboneGenome(64, stages, sppf=True, sppf_kernel=5, c2psa=True, c2psa_repeats=2)
    names = node_names("pan", 2)
    neck = NeckGenome("pan", 2, tuple(block(node_level(name)) for name in names))
    return ArchGenome(backbone, neck, HeadGenome(nc))


def parent_manifest(parent_weights: str | Path) -> dict[str, Any]:
    """The manifest of the parent folder a checkpoint lies in (``<parent>/train/weights/last.pt``)."""
    path = Path(parent_weights)
    manifest = next((d / PARENT_MANIFEST for d in path.parents[:3] if (d / PARENT_MANIFEST).is_file()), None)
    if manifest is None:
        raise FileNotFoundError(
            f"no {PARENT_MANIFEST} above {path}: parent weights must come from 'detnas parent train'"
        )
    return json.loads(manifest.read_text())


def parent_yaml(folder: Path, nc: int) -> Path:
    """Write the parent's YAML and manifest into ``folder`` (idempotent: an existing manifest is kept)."""
    genome = parent_genome(nc=nc)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / PARENT_MANIFEST
    if not manifest.is_file():
        manifest.write_text(json.dumps({"genome_id": genome.id, "genome": genome.to_dict()}, indent=1))
    return write_yaml(genome, folder / "parent.yaml")


@dataclass(frozen=True)
class ParentRun:
    """What ``train_parent`` did: the finished checkpoint and how much training it took in all."""

    weights: Path
    epochs_done: int
    epochs: int
    seconds: float
    resumed: bool


def parent_weights(folder: str | Path) -> Path:
    """The finished parent checkpoint in ``folder``; FileNotFoundError naming the command that makes it."""
    folder = Path(folder)
    manifest = folder / PARENT_MANIFEST
    data = json.loads(manifest.read_text()) if manifest.is_file() else {}
    weights = folder / PARENT_WEIGHTS
    if not data.get("complete") or not weights.is_file():
        raise FileNotFoundError(
            f"no finished parent in {folder}: run 'detnas parent train --out {folder}' (it resumes if interrupted)"
        )
    return weights


def train_parent(data_yaml: str | Path, folder: str | Path, recipe: Recipe, *, device: str = "cpu") -> ParentRun:
    """Train the parent once (or continue an interrupted run of it) and mark it complete in the manifest.

    The recipe must match the one the folder was started with; a finished parent is returned as it is.
    """
    from detnas.evaluate.data import load_data_yaml
    from detnas.evaluate.training import proxy_train

    folder = Path(folder).expanduser().resolve()
    spec = load_data_yaml(data_yaml)
    yaml_path = parent_yaml(folder, spec.nc)
    manifest_path = folder / PARENT_MANIFEST
    manifest = json.loads(manifest_path.read_text())
    wanted = {"data": str(Path(data_yaml).resolve()), "recipe": recipe.to_dict()}
    started = {k: manifest.get(k) for k in wanted}
    if manifest.get("data") and started != wanted:
        raise ValueError(
            f"{folder} holds a parent trained with {started}; use a new --out folder for a different data or recipe"
        )
    last = folder / PARENT_WEIGHTS
    if manifest.get("complete") and last.is_file():
        return ParentRun(last, recipe.epochs, recipe.epochs, float(manifest.get("seconds", 0.0)), resumed=False)
    manifest.update(wanted)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    snapshot = folder / RESUME_CHECKPOINT
    resume = snapshot if snapshot.is_file() else None
    t0 = time.perf_counter()
    result = proxy_train(
        yaml_path, Path(data_yaml), recipe, project=folder, device=device, resume=resume, snapshot=snapshot
    )
    seconds = float(manifest.get("seconds", 0.0)) + time.perf_counter() - t0
    if result.last is None:
        raise RuntimeError(f"parent training wrote no weights in {folder / 'train'}")
    manifest.update(complete=True, seconds=round(seconds, 1), epochs_done=len(result.epochs))
    manifest_path.write_text(json.dumps(manifest, indent=1))
    snapshot.unlink(missing_ok=True)  # the finished last.pt (optimizer stripped) is what candidates use
    return ParentRun(result.last, len(result.epochs), recipe.epochs, seconds, resumed=resume is not None)

"""Weight inheritance: one over-sized parent is trained once; candidates start from slices of its weights.

The parent is a genome of the space at the top of every width, depth and kernel range (widest channels per level,
4 repeats, expansion 0.75, 5x5 strided convolutions, SPPF + 2 C2PSA, a P2-P5 PAN neck). A candidate layer inherits
from the parent layer that plays the same role (matched by the role the builder names, e.g. ``P4/16 td4``, not by
index, so FPN, PAN and BiFPN candidates and P3-only heads all find their nodes) when the parent layer has every tensor
the candidate layer has, each at least as large. Tensors are then sliced the once-for-all way: the first output and
input channels, the first ``n`` repeated blocks, the centre of a larger kernel. Layers whose module family differs
from the parent's (a C3 block where the parent has C3k2, an ADown where it has Conv) keep their fresh initialisation;
``Inheritance.fraction`` says how much of the candidate was inherited, so the figure travels with the score.

Training the parent is a separate, resumable step (``detnas parent``); its checkpoint is reused across searches.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from detnas.architecture import build_layers, genome_from_yaml, write_yaml
from detnas.backbone_space.genome import STAGE_LEVELS, BackboneGenome, StageGene
from detnas.blocks import LEVEL_CHANNELS, BlockGene
from detnas.genome import ArchGenome, HeadGenome
from detnas.neck_space.genome import NeckGenome, node_level, node_names

PARENT_MANIFEST = "parent.json"
RESUME_CHECKPOINT = "resume.pt"  # whole copy of the latest epoch's checkpoint; what an interrupted run resumes from


def parent_genome(*, nc: int = 80) -> ArchGenome:
    """The over-sized parent: every range of the space at its top, C3k2 blocks (C2f-compatible tensors)."""

    def block(level: int) -> BlockGene:
        return BlockGene("C3k2", repeats=4, channels=max(LEVEL_CHANNELS[level]), expansion=0.75)

    stages = tuple(StageGene("Conv", 5, max(LEVEL_CHANNELS[level]), block(level)) for level in STAGE_LEVELS)
    backbone = BackboneGenome(64, stages, sppf=True, sppf_kernel=5, c2psa=True, c2psa_repeats=2)
    names = node_names("pan", 2)
    neck = NeckGenome("pan", 2, tuple(block(node_level(name)) for name in names))
    return ArchGenome(backbone, neck, HeadGenome(nc))


def layer_roles(genome: ArchGenome) -> list[str]:
    """A role name per YAML layer (builder comment, numbered when it repeats; 'Detect' for the head)."""
    layers, _, _ = build_layers(genome)
    seen: dict[str, int] = {}
    roles = []
    for row, comment in zip(layers.rows, layers.comments, strict=True):
        base = "Detect" if row[2] == "Detect" else comment
        roles.append(f"{base}#{seen.get(base, 0)}")
        seen[base] = seen.get(base, 0) + 1
    return roles


@dataclass(frozen=True)
class Inheritance:
    """What a candidate took from the parent."""

    inherited_params: int
    total_params: int
    layers_inherited: int
    layers_total: int

    @property
    def fraction(self) -> float:
        return self.inherited_params / self.total_params if self.total_params else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"fraction": round(self.fraction, 4)}


def _slice(parent, shape) -> Any | None:
    """The once-for-all slice of ``parent`` with ``shape``: leading channels, centred kernel; None if it cannot fit."""
    if parent.dim() != len(shape) or any(p < c for p, c in zip(parent.shape, shape, strict=True)):
        return None
    index = []
    for dim, (p, c) in enumerate(zip(parent.shape, shape, strict=True)):
        start = (p - c) // 2 if parent.dim() == 4 and dim >= 2 else 0  # kernels: the centre; channels: the first
        index.append(slice(start, start + c))
    return parent[tuple(index)]


def _head_key(rest: str, level_offset: int) -> str:
    """Detect keeps one branch per level (cv2.0 = lowest level): shift the branch index by the level difference."""
    parts = rest.split(".")
    if len(parts) > 1 and parts[0] in ("cv2", "cv3", "cv4", "one2one_cv2", "one2one_cv3") and parts[1].isdigit():
        parts[1] = str(int(parts[1]) + level_offset)
    return ".".join(parts)


def inherit_state(child_model, child: ArchGenome, parent_model, parent: ArchGenome) -> Inheritance:
    """Copy sliced parent tensors into ``child_model`` in place, layer by layer (see the module docstring)."""
    import torch

    parent_roles = {role: i for i, role in enumerate(layer_roles(parent))}
    parent_state = parent_model.state_dict()
    child_state = child_model.state_dict()
    offset = child.neck.min_level - parent.neck.min_level
    by_layer: dict[int, list[str]] = {}
    for key in child_state:
        by_layer.setdefault(int(key.split(".")[1]), []).append(key)
    inherited = layers_inherited = 0
    updates: dict[str, torch.Tensor] = {}
    for index, role in enumerate(layer_roles(child)):
        keys = by_layer.get(index, [])
        source = parent_roles.get(role)
        if not keys or source is None:
            continue
        sliced = {}
        for key in keys:
            rest = key.split(".", 2)[2]
            rest = _head_key(rest, offset) if role.startswith("Detect") else rest
            parent_tensor = parent_state.get(f"model.{source}.{rest}")
            piece = None if parent_tensor is None else _slice(parent_tensor, child_state[key].shape)
            if piece is None:
                break
            sliced[key] = piece
        else:  # every tensor of the layer fits: inherit the whole layer
            updates.update(sliced)
            layers_inherited += 1
    for key, value in updates.items():
        child_state[key] = value.clone().to(child_state[key].dtype)
        if child_state[key].is_floating_point() and not key.endswith(("running_mean", "running_var")):
            inherited += child_state[key].numel()
    child_model.load_state_dict(child_state)
    total = sum(p.numel() for p in child_model.parameters())
    weighted_layers = sum(1 for keys in by_layer.values() if keys)
    return Inheritance(min(inherited, total), total, layers_inherited, weighted_layers)


def parent_manifest(parent_weights: str | Path) -> dict[str, Any]:
    """The manifest of the parent folder a checkpoint lies in (``<parent>/train/weights/last.pt``)."""
    path = Path(parent_weights)
    manifest = next((d / PARENT_MANIFEST for d in path.parents[:3] if (d / PARENT_MANIFEST).is_file()), None)
    if manifest is None:
        raise FileNotFoundError(
            f"no {PARENT_MANIFEST} above {path}: parent weights must come from 'detnas parent train'"
        )
    return json.loads(manifest.read_text())


def load_parent(parent_weights: str | Path):
    """(parent model, parent genome) from a parent checkpoint written by ``train_parent``."""
    from ultralytics.nn.tasks import load_checkpoint

    genome = ArchGenome.from_dict(parent_manifest(parent_weights)["genome"])
    model, _ = load_checkpoint(str(parent_weights), device="cpu", fuse=False)
    return model.float(), genome


def write_inherited_checkpoint(
    arch_yaml: str | Path, nc: int, parent_weights: str | Path, out: Path, *, seed: int = 0
) -> Inheritance:
    """Build the candidate, fill it from the parent, save it as an Ultralytics checkpoint that training starts from.

    Layers the parent cannot fill keep a fresh initialisation drawn with ``seed``, so the score is reproducible.
    """
    import torch

    from detnas.evaluate.arch import build_model

    child_genome = genome_from_yaml(arch_yaml).with_nc(nc)
    parent_model, parent = load_parent(parent_weights)
    if parent.head.nc != nc:
        raise ValueError(
            f"the parent was trained for {parent.head.nc} classes, the data has {nc}: train a parent on it"
        )
    torch.manual_seed(seed)
    child_model = build_model(arch_yaml, nc)
    result = inherit_state(child_model, child_genome, parent_model, parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": child_model, "train_args": {}, "date": None, "version": None}, out)
    return result


def parent_yaml(folder: Path, nc: int) -> Path:
    """Write the parent's YAML and manifest into ``folder`` (idempotent)."""
    genome = parent_genome(nc=nc)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / PARENT_MANIFEST
    if not manifest.is_file():
        manifest.write_text(json.dumps({"genome_id": genome.id, "genome": genome.to_dict()}, indent=1))
    return write_yaml(genome, folder / "parent.yaml")


@dataclass(frozen=True)
class ParentRun:
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
    weights = folder / "train" / "weights" / "last.pt"
    if not data.get("complete") or not weights.is_file():
        raise FileNotFoundError(
            f"no finished parent in {folder}: run 'detnas parent train --out {folder}' (it resumes if interrupted)"
        )
    return weights


def train_parent(data_yaml: str | Path, folder: str | Path, recipe, *, device: str = "cpu") -> ParentRun:
    """Train the parent once (or continue an interrupted run of it) and mark it complete in the manifest.

    The recipe must match the one the folder was started with; a finished parent is returned as it is.
    """
    import time

    from detnas.evaluate.data import load_data_yaml
    from detnas.evaluate.training import train

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
    last = folder / "train" / "weights" / "last.pt"
    if manifest.get("complete") and last.is_file():
        return ParentRun(last, recipe.epochs, recipe.epochs, float(manifest.get("seconds", 0.0)), resumed=False)
    manifest.update(wanted)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    snapshot = folder / RESUME_CHECKPOINT
    resume = snapshot if snapshot.is_file() else None
    t0 = time.perf_counter()
    result = train(yaml_path, Path(data_yaml), recipe, project=folder, device=device, resume=resume, snapshot=snapshot)
    seconds = float(manifest.get("seconds", 0.0)) + time.perf_counter() - t0
    if result.last is None:
        raise RuntimeError(f"parent training wrote no weights in {folder / 'train'}")
    manifest.update(complete=True, seconds=round(seconds, 1), epochs_done=len(result.epochs))
    manifest_path.write_text(json.dumps(manifest, indent=1))
    snapshot.unlink(missing_ok=True)  # the finished last.pt (optimizer stripped) is what candidates use
    return ParentRun(result.last, len(result.epochs), recipe.epochs, seconds, resumed=resume is not None)

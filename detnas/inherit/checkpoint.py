"""Checkpoint -> genome: which point of the search space a trained Ultralytics detection model is.

A checkpoint can lend its weights only when its architecture is a genome of the space. The genome is read from the
built modules (never from the file name or a YAML the checkpoint may carry); then the genome's YAML is built with stock
Ultralytics and compared with the checkpoint's model tensor by tensor and module by module, so a recognised genome is
exact and anything the space cannot express is named, layer by layer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detnas.architecture import build_layers, model_dict
from detnas.backbone_space.genome import STAGE_LEVELS, BackboneGenome, StageGene
from detnas.blocks import BLOCK_TYPES, BOOLS, EXPANSIONS, LEVEL_CHANNELS, BlockGene
from detnas.genome import ArchGenome, HeadGenome
from detnas.neck_space.genome import MIN_LEVELS, NECK_DOWN_OPS, TOPOLOGIES, NeckGenome, node_level, node_names

if TYPE_CHECKING:
    import torch

PARENT_MANIFEST = "parent.json"  # written by `detnas parent train` next to its train/ folder
PARENT_WEIGHTS = Path("train", "weights", "last.pt")  # the finished parent checkpoint inside that folder

_FIX = "only models whose every layer is a gene of the detnas space can be used (README: 'The search space')"
_TASKS = {  # head class -> what the checkpoint is, for a message that says why it is not a detection model
    "Classify": "classification",
    "Segment": "segmentation",
    "Segment26": "segmentation",
    "Pose": "pose",
    "Pose26": "pose",
    "OBB": "oriented-box",
    "OBB26": "oriented-box",
    "v10Detect": "YOLOv10 end-to-end detection",
    "WorldDetect": "YOLO-World",
    "YOLOEDetect": "YOLOE",
    "YOLOESegment": "YOLOE segmentation",
    "RTDETRDecoder": "RT-DETR",
}
_COMPARED_ATTRS = ("add", "n", "c", "nc", "nl", "reg_max", "num_heads", "key_dim", "head_dim", "dim")


class CheckpointError(ValueError):
    """A checkpoint or model that cannot be used; the message is one line: the file, what is wrong, and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).splitlines()))


@dataclass
class ParentCheckpoint:
    """A loaded parent: its float32 eval-mode CPU model (not fused), the genome it is, and its classes."""

    path: Path
    model: torch.nn.Module
    genome: ArchGenome
    nc: int
    names: dict[int, str]


# ---- model -> genome ---------------------------------------------------------------------------------------------


def genome_of_model(model: torch.nn.Module) -> ArchGenome:
    """The genome of a built Ultralytics detection model, verified to rebuild the same tensors and modules.

    CheckpointError names the first layer that the space cannot express and why.
    """
    check_detection_model(model)
    layers = list(model.model)
    nc = int(layers[-1].nc)
    backbone, backbone_rows = _read_backbone(layers)
    neck = _read_neck(layers, backbone, backbone_rows, nc)
    genome = ArchGenome(backbone, neck, HeadGenome(nc))
    try:
        verify_genome(model, genome)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}, which the space cannot express; {_FIX}") from None
    return genome


def check_detection_model(model: Any) -> None:
    """Raise CheckpointError unless ``model`` is an unfused Ultralytics model ending in a plain ``Detect`` head."""
    import torch

    layers = getattr(model, "model", None)
    if not isinstance(model, torch.nn.Module) or not isinstance(layers, torch.nn.Sequential) or len(layers) == 0:
        raise CheckpointError(
            f"the model is a {type(model).__name__}, not an Ultralytics model: save one with YOLO(...).save(path) "
            "or torch.save({'model': model}, path)"
        )
    head = layers[-1]
    name = type(head).__name__
    if name != "Detect":
        task = _TASKS.get(name, f"non-detection ({name} head)")
        raise CheckpointError(
            f"the model is a {task} model ({type(model).__name__} ending in {name}), not a detection model: "
            "use a detection checkpoint (a model ending in a plain Detect head)"
        )
    if getattr(head, "one2one_cv2", None) is not None:
        raise CheckpointError(
            f"layer {len(layers) - 1} is an end-to-end (NMS-free) Detect head, which the space does not have: "
            "use a checkpoint with a plain Detect head"
        )
    fused = [m for m in model.modules() if type(m).__name__ in ("Conv", "DWConv") and not hasattr(m, "bn")]
    if fused:
        raise CheckpointError(
            "the model is fused (BatchNorm folded into its convolutions), so it cannot be trained further: "
            "save the model before fuse(), e.g. the training run's last.pt"
        )


def _outside(index: int, role: str, what: str) -> CheckpointError:
    return CheckpointError(f"layer {index} ({role}) is {what}, which the space does not have; {_FIX}")


def _gene_error(index: int, role: str, exc: ValueError) -> CheckpointError:
    return CheckpointError(f"layer {index} ({role}) is outside the space: {exc}; {_FIX}")


def _sources(f: Any, index: int) -> list[int]:
    """Absolute layer indices a row reads (Ultralytics writes -1 for the previous layer)."""
    raw = [f] if isinstance(f, int) else list(f)
    return [index + s if s < 0 else s for s in raw]


def _layer_sources(layer: Any, index: int) -> list[int]:
    f = getattr(layer, "f", None)
    if not isinstance(f, (int, list, tuple)):
        raise CheckpointError(f"layer {index} has no 'from' index (.f): the model was not built by Ultralytics")
    return _sources(f, index)


def _read_backbone(layers: list[Any]) -> tuple[BackboneGenome, int]:
    """Stem, four (down-sampler, block) stages, then the optional SPPF and C2PSA tail; all rows chained."""
    if len(layers) < 10:
        raise CheckpointError(f"the model has {len(layers)} layers: too few for a stem, 4 stages, a neck and a head")
    stem_channels, stem_kernel = _read_stem(layers[0])
    stages = []
    for k, level in enumerate(STAGE_LEVELS):
        i = 1 + 2 * k
        down, kernel, down_channels = _read_down(layers[i], i, level)
        block = _read_block(layers[i + 1], i + 1, f"P{level} block", f"backbone.stages[{k}].block", level)
        stage = StageGene(down, kernel, down_channels, block)
        try:
            stage.validate(f"backbone.stages[{k}]", level)
        except ValueError as exc:
            raise _gene_error(i, f"P{level} down-sampler", exc) from None
        stages.append(stage)
    p5 = stages[-1].block.channels
    index = 9
    sppf, sppf_kernel, c2psa, c2psa_repeats = False, 5, False, 1
    last = len(layers) - 1  # the head
    if index < last and type(layers[index]).__name__ == "SPPF" and _layer_sources(layers[index], index) == [8]:
        sppf, sppf_kernel = True, _read_sppf(layers[index], index, p5)
        index += 1
    if index < last and type(layers[index]).__name__ == "C2PSA" and _layer_sources(layers[index], index) == [index - 1]:
        c2psa, c2psa_repeats = True, _read_c2psa(layers[index], index, p5)
        index += 1
    for i in range(index):
        if _layer_sources(layers[i], i) != [i - 1]:
            raise _outside(i, "backbone", f"{type(layers[i]).__name__} of layers {_layer_sources(layers[i], i)}")
    try:
        backbone = BackboneGenome(stem_channels, tuple(stages), sppf, sppf_kernel, c2psa, c2psa_repeats, stem_kernel)
    except ValueError as exc:
        raise _gene_error(0, "backbone", exc) from None
    return backbone, index


def _read_stem(layer: Any) -> tuple[int, int]:
    name = type(layer).__name__
    if name != "Conv":
        raise _outside(0, "stem", f"{name} (the space's stem is a Conv)")
    conv = layer.conv
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    if conv.kernel_size != (kernel, kernel) or stride != 2 or kernel not in (3, 6):
        raise _outside(0, "stem", f"a {conv.kernel_size[0]}x{conv.kernel_size[1]} stride-{stride} Conv")
    return conv.out_channels, kernel


def _read_down(layer: Any, index: int, level: int) -> tuple[str, int, int]:
    """(op, kernel, output channels) of a stride-2 down-sampler."""
    name, role = type(layer).__name__, f"P{level} down-sampler"
    if name == "Conv":
        conv = layer.conv
        if conv.stride != (2, 2):
            raise _outside(index, role, f"a stride-{conv.stride[0]} Conv")
        return "Conv", conv.kernel_size[0], conv.out_channels
    if name == "SCDown":
        return "SCDown", layer.cv2.conv.kernel_size[0], layer.cv2.conv.out_channels
    if name == "ADown":
        return "ADown", 3, 2 * layer.c
    if name == "AConv":
        return "AConv", 3, layer.cv1.conv.out_channels
    raise _outside(index, role, f"{name} (the space down-samples with Conv, SCDown, ADown or AConv)")


def _read_block(layer: Any, index: int, role: str, path: str, level: int) -> BlockGene:
    """The block gene of a C2f / C3k2 / C3 / C3Ghost / C2 / C3x / C2fCIB layer."""
    name = type(layer).__name__
    if name not in BLOCK_TYPES:
        raise _outside(index, role, f"{name} (the space's blocks are {', '.join(BLOCK_TYPES)})")
    inner = list(layer.m)
    if not inner:
        raise _outside(index, role, f"a {name} with no repeated block")
    if name in ("C2f", "C3k2", "C2fCIB", "C2"):
        channels, hidden = layer.cv2.conv.out_channels, layer.c
    else:  # the C3 family: hidden channels are cv1's output
        channels, hidden = layer.cv3.conv.out_channels, layer.cv1.conv.out_channels
    expansion = next((e for e in EXPANSIONS if int(channels * e) == hidden), None)
    if expansion is None:
        ratio = f"{hidden / channels:g}"
        raise _outside(index, role, f"a {name} with {hidden} hidden channels of {channels} (expansion {ratio})")
    kinds = sorted({type(b).__name__ for b in inner})
    c3k = large_kernel = False
    if name == "C3k2":
        if "Sequential" in kinds:
            raise _outside(index, role, "a C3k2 with attention")
        if kinds not in (["Bottleneck"], ["C3k"]):
            raise _outside(index, role, f"a C3k2 of {'+'.join(kinds)} blocks")
        c3k = kinds == ["C3k"]
        shortcut = bool(inner[0].m[0].add) if c3k else bool(inner[0].add)
    elif name == "C3Ghost":
        shortcut = True  # GhostBottleneck ignores it: one architecture, one genome
    else:
        shortcut = bool(inner[0].add)
        large_kernel = name == "C2fCIB" and any(type(m).__name__ == "RepVGGDW" for m in layer.modules())
    block = BlockGene(name, len(inner), channels, expansion, shortcut, c3k, large_kernel)
    try:
        block.validate(path, level)
    except ValueError as exc:
        raise _gene_error(index, role, exc) from None
    return block


def _read_sppf(layer: Any, index: int, channels: int) -> int:
    kernel = layer.m.kernel_size
    kernel = kernel[0] if isinstance(kernel, (tuple, list)) else int(kernel)
    if getattr(layer, "n", 3) != 3:
        raise _outside(index, "P5 SPPF", f"an SPPF with {layer.n} poolings")
    if getattr(layer, "add", False):
        raise _outside(index, "P5 SPPF", "an SPPF with a shortcut")
    if (layer.cv1.conv.in_channels, layer.cv2.conv.out_channels) != (channels, channels):
        raise _outside(index, "P5 SPPF", "an SPPF that changes the channel count")
    return kernel


def _read_c2psa(layer: Any, index: int, channels: int) -> int:
    if layer.cv2.conv.out_channels != channels or layer.c * 2 != channels:
        raise _outside(index, "P5 C2PSA", f"a C2PSA with {layer.c} hidden channels of {channels}")
    return len(layer.m)


# ---- neck: match the layer sequence of every candidate wiring -----------------------------------------------------

Step = tuple[tuple[int, ...], str, str]  # (sources, kind for matching, name for messages)


def _row_step(row: list[Any], index: int) -> Step:
    name = str(row[2]).split(".")[-1]
    return tuple(_sources(row[0], index)), "block" if name in BLOCK_TYPES else name, name


def _layer_step(layer: Any, index: int) -> Step:
    name = type(layer).__name__
    return tuple(_layer_sources(layer, index)), "block" if name in BLOCK_TYPES else name, name


def _neck_candidates(backbone: BackboneGenome, nc: int) -> Iterator[tuple[NeckGenome, list[Step]]]:
    """Every neck wiring of the space with placeholder nodes, and its rows (neck and head) as steps."""
    for topology in TOPOLOGIES:
        for min_level in MIN_LEVELS:
            for lateral in BOOLS:
                for down in NECK_DOWN_OPS if topology != "fpn" else ("Conv",):
                    names = node_names(topology, min_level)
                    nodes = tuple(BlockGene("C2f", 1, LEVEL_CHANNELS[node_level(n)][0]) for n in names)
                    neck = NeckGenome(topology, min_level, nodes, down, lateral)
                    layers, backbone_rows, _ = build_layers(ArchGenome(backbone, neck, HeadGenome(nc)))
                    steps = [_row_step(row, i) for i, row in enumerate(layers.rows)]
                    yield neck, steps[backbone_rows:]


def _describe(step: Step | None) -> str:
    if step is None:
        return "no layer"
    sources = list(step[0]) if len(step[0]) > 1 else step[0][0]
    return f"{step[2]} of layer {sources}" if isinstance(sources, int) else f"{step[2]} of layers {sources}"


def _label(neck: NeckGenome) -> str:
    text = f"{neck.topology} P{neck.min_level}-P5"
    text += ", lateral" if neck.lateral else ""
    return text + (f", {neck.down} down" if neck.topology != "fpn" else "")


def _read_neck(layers: list[Any], backbone: BackboneGenome, start: int, nc: int) -> NeckGenome:
    """Pick the candidate wiring whose steps equal the model's, then read each node's block gene."""
    steps = [_layer_step(layers[i], i) for i in range(start, len(layers))]
    best: tuple[int, NeckGenome, list[Step]] | None = None
    for neck, expected in _neck_candidates(backbone, nc):
        if [s[:2] for s in expected] == [s[:2] for s in steps]:
            nodes = []
            at = [start + j for j, s in enumerate(expected) if s[1] == "block"]
            for n, (index, name) in enumerate(zip(at, neck.names, strict=True)):
                level = node_level(name)
                path = f"neck.nodes[{n}]({name})"
                nodes.append(_read_block(layers[index], index, f"neck node {name}", path, level))
            return NeckGenome(neck.topology, neck.min_level, tuple(nodes), neck.down, neck.lateral)
        same = next((j for j, (a, b) in enumerate(zip(expected, steps, strict=False)) if a[:2] != b[:2]), None)
        same = min(len(expected), len(steps)) if same is None else same
        if best is None or same > best[0]:
            best = (same, neck, expected)
    assert best is not None
    j, neck, expected = best
    got = steps[j] if j < len(steps) else None
    want = expected[j] if j < len(expected) else None
    raise CheckpointError(
        f"layer {start + j} is {_describe(got)}, where the closest neck of the space ({_label(neck)}) has "
        f"{_describe(want)}: that wiring is not in the space; {_FIX}"
    )


# ---- verification --------------------------------------------------------------------------------------------------


def verify_genome(model: torch.nn.Module, genome: ArchGenome) -> None:
    """Build ``genome`` with stock Ultralytics; CheckpointError unless every tensor (key, shape) and module matches."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    with torch.random.fork_rng(devices=[]):  # building initialises weights: keep the caller's seeded draws
        built = DetectionModel(model_dict(genome), nc=genome.head.nc, verbose=False)
    ours, theirs = _tensors_by_layer(model.state_dict()), _tensors_by_layer(built.state_dict())
    for index in sorted(ours.keys() | theirs.keys()):
        a, b = ours.get(index, {}), theirs.get(index, {})
        if a != b:
            raise CheckpointError(f"{_layer_name(model, index)} differs from genome {genome.id}: {_tensor_diff(a, b)}")
    if len(model.model) != len(built.model):
        raise CheckpointError(f"the model has {len(model.model)} layers, genome {genome.id} has {len(built.model)}")
    for index, (mine, ref) in enumerate(zip(model.model, built.model, strict=True)):
        problem = _module_diff(mine, ref)
        if problem:
            raise CheckpointError(f"{_layer_name(model, index)} differs from genome {genome.id}: {problem}")


def _tensors_by_layer(state: dict[str, Any]) -> dict[int, dict[str, tuple[int, ...]]]:
    out: dict[int, dict[str, tuple[int, ...]]] = {}
    for key, value in state.items():
        parts = key.split(".")
        index = int(parts[1]) if len(parts) > 2 and parts[0] == "model" and parts[1].isdigit() else -1
        out.setdefault(index, {})[key] = tuple(value.shape)
    return out


def _layer_name(model: Any, index: int) -> str:
    if 0 <= index < len(model.model):
        return f"layer {index} ({type(model.model[index]).__name__})"
    return "the model outside its layers" if index < 0 else f"layer {index}"


def _tensor_diff(a: dict[str, tuple[int, ...]], b: dict[str, tuple[int, ...]]) -> str:
    for key in a:
        if key not in b:
            return f"it has tensor {key} that the genome's module lacks"
        if a[key] != b[key]:
            return f"{key} has shape {list(a[key])} where the genome builds {list(b[key])}"
    missing = next(key for key in b if key not in a)
    return f"it lacks tensor {missing} that the genome's module has"


def _module_diff(mine: Any, ref: Any) -> str | None:
    """The first difference in module tree, conv geometry or shortcut/repeat flags; None when equal."""
    a = list(mine.named_modules(remove_duplicate=False))
    b = list(ref.named_modules(remove_duplicate=False))
    for (name_a, mod_a), (name_b, mod_b) in zip(a, b, strict=False):
        where = f"'{name_a}'" if name_a else "the layer"
        if name_a != name_b or type(mod_a).__name__ != type(mod_b).__name__:
            there = f"'{name_b}'" if name_b else "the layer"
            return f"{where} is a {type(mod_a).__name__} where the genome has {there} a {type(mod_b).__name__}"
        for attr, left, right in _signature_diff(mod_a, mod_b):
            return f"{where} has {attr}={left!r} where the genome has {right!r}"
    if len(a) != len(b):
        return f"it has {len(a)} modules where the genome has {len(b)}"
    return None


def _signature_diff(a: Any, b: Any) -> Iterator[tuple[str, Any, Any]]:
    import torch

    if isinstance(a, torch.nn.Conv2d):
        attrs: tuple[str, ...] = ("kernel_size", "stride", "padding", "dilation", "groups")
    elif isinstance(a, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)):
        attrs = ("kernel_size", "stride", "padding")
    elif isinstance(a, torch.nn.Upsample):
        attrs = ("scale_factor", "mode")
    else:
        attrs = _COMPARED_ATTRS
    for attr in attrs:
        left, right = getattr(a, attr, None), getattr(b, attr, None)
        if isinstance(left, torch.nn.Module) or isinstance(right, torch.nn.Module):
            continue
        if left is not None and right is not None and left != right:
            yield attr, left, right
    if isinstance(a, torch.nn.Conv2d) and (a.bias is None) != (b.bias is None):
        yield "bias", a.bias is not None, b.bias is not None


# ---- files ---------------------------------------------------------------------------------------------------------


def load_parent_checkpoint(path: str | Path) -> ParentCheckpoint:
    """Load an Ultralytics detection checkpoint (.pt, any file name) and recognise its genome.

    CheckpointError (one line, naming the file) for a missing, unreadable or model-less file, a model that is not a
    detection model, and an architecture outside the space.
    """
    path = Path(path).expanduser()
    model = _read_model(path)
    try:
        genome = genome_of_model(model)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return ParentCheckpoint(path, model, genome, genome.head.nc, _class_names(model, genome.head.nc))


def load_parent(path: str | Path) -> ParentCheckpoint:
    """A parent from a checkpoint file, or from a ``detnas parent train`` folder (or a checkpoint lying in one).

    A parent folder's genome is taken from its manifest (which keeps genes the modules cannot show, such as C3Ghost's
    shortcut), and the checkpoint is still verified against it tensor by tensor.
    """
    path = Path(path).expanduser()
    folder = _parent_folder(path)
    if folder is None:
        if path.is_dir():
            raise CheckpointError(
                f"{path} is a folder without {PARENT_MANIFEST}: pass a .pt checkpoint or a folder written by "
                "'detnas parent train'"
            )
        return load_parent_checkpoint(path)
    manifest_path = folder / PARENT_MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        genome = ArchGenome.from_dict(manifest["genome"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"{manifest_path} has no readable genome ({type(exc).__name__}: {exc}): write the parent again with "
            f"'detnas parent train --out {folder}' into a new folder"
        ) from None
    weights = path
    if path.is_dir():
        weights = folder / PARENT_WEIGHTS
        if not manifest.get("complete") or not weights.is_file():
            raise CheckpointError(
                f"{folder} holds no finished parent: run 'detnas parent train --out {folder}' (it resumes if "
                "interrupted)"
            )
    model = _read_model(weights)
    try:
        check_detection_model(model)
        nc = int(model.model[-1].nc)
        if nc != genome.head.nc:
            raise CheckpointError(
                f"its model has {nc} classes but {manifest_path} says {genome.head.nc}: the checkpoint does not "
                "belong to this parent folder"
            )
    except CheckpointError as exc:
        raise CheckpointError(f"{weights}: {exc}") from None
    try:
        verify_genome(model, genome)
    except CheckpointError as exc:
        raise CheckpointError(
            f"{weights} is not the parent genome of {manifest_path}: {exc}; load the file alone with "
            "load_parent_checkpoint, or train the parent again into a new folder"
        ) from None
    return ParentCheckpoint(weights, model, genome, nc, _class_names(model, nc))


def _parent_folder(path: Path) -> Path | None:
    """The ``detnas parent train`` folder ``path`` is, or lies in (``<folder>/train/weights/last.pt``)."""
    if path.is_dir():
        return path if (path / PARENT_MANIFEST).is_file() else None
    if not path.is_file():
        return None
    return next((d for d in path.parents[:3] if (d / PARENT_MANIFEST).is_file()), None)


def _legacy_names() -> AbstractContextManager[Any]:
    """Module paths older Ultralytics releases pickled, mapped to today's (as Ultralytics' own loader does)."""
    try:
        from ultralytics.nn.tasks import temporary_modules
    except ImportError:
        return nullcontext()
    attributes = {"pathlib.WindowsPath": "pathlib.PosixPath"} if os.name != "nt" else {}
    modules = {
        "ultralytics.yolo.utils": "ultralytics.utils",
        "ultralytics.yolo.v8": "ultralytics.models.yolo",
        "ultralytics.yolo.data": "ultralytics.data",
    }
    return temporary_modules(modules=modules, attributes=attributes)


def _read_model(path: Path) -> torch.nn.Module:
    """The checkpoint's model (EMA when present, as Ultralytics resumes), float32, eval mode, on the CPU."""
    import torch

    if not path.exists():
        raise CheckpointError(f"{path} does not exist: pass the path of an Ultralytics detection checkpoint (.pt)")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file: pass the .pt file inside it")
    try:
        with _legacy_names():
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as exc:
        raise CheckpointError(
            f"{path} needs the Python module {exc.name!r}, which is not installed: it was not saved by Ultralytics "
            "(YOLOv5-repo checkpoints are not supported); use an Ultralytics checkpoint such as yolov5nu.pt"
        ) from None
    except Exception as exc:  # torch reports damage as RuntimeError, EOFError, UnpicklingError, ...
        reason = (str(exc).splitlines() or [""])[0].split(". ")[0][:160]
        raise CheckpointError(
            f"{path} cannot be read as a PyTorch checkpoint ({type(exc).__name__}: {reason}): the file is "
            "empty, truncated or not a checkpoint; copy or download it again"
        ) from None
    if isinstance(ckpt, torch.jit.ScriptModule):
        raise CheckpointError(f"{path} is a TorchScript export, not a checkpoint: use the .pt it was exported from")
    model: Any = None
    if isinstance(ckpt, torch.nn.Module):
        model = ckpt
    elif isinstance(ckpt, dict):
        model = ckpt.get("ema") if ckpt.get("ema") is not None else ckpt.get("model")
    if not isinstance(model, torch.nn.Module):
        what = "a state_dict (tensors only)" if _is_state_dict(ckpt) else f"a {type(ckpt).__name__}"
        raise CheckpointError(
            f"{path} holds no model ({what} without a 'model' entry): save the whole model with YOLO(...).save(path) "
            "or torch.save({'model': model}, path)"
        )
    try:
        check_detection_model(model)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    model = model.float().eval().cpu()
    for module in model.modules():  # what Ultralytics' loader fixes up on models pickled by older torch versions
        if isinstance(module, torch.nn.Upsample) and not hasattr(module, "recompute_scale_factor"):
            module.recompute_scale_factor = None
    return model


def _is_state_dict(obj: Any) -> bool:
    import torch

    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _class_names(model: Any, nc: int) -> dict[int, str]:
    names = getattr(model, "names", None)
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    if not isinstance(names, dict):
        return {i: str(i) for i in range(nc)}
    return {int(k): str(v) for k, v in names.items()}

"""Checkpoints -> genomes: stock YOLO11 / YOLOv8 / YOLOv5u n and s are points of the space and are recognised exactly.

Also the two genes that made them fit (``stem_kernel``, ``lateral``): ids of older genomes unchanged, JSON and search
operators cover them, and every sampled genome builds with stock Ultralytics.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from detnas import designs
from detnas.architecture import build_layers, model_dict, write_yaml
from detnas.backbone_space import STEM_KERNELS, BackboneGenome
from detnas.blocks import EXPANSIONS, LEVEL_CHANNELS, BlockGene
from detnas.datasets import datasets_dir
from detnas.genome import ArchGenome
from detnas.inherit.checkpoint import (
    PARENT_MANIFEST,
    CheckpointError,
    genome_of_model,
    load_parent,
    load_parent_checkpoint,
)
from detnas.neck_space import NeckGenome
from detnas.space import SearchSpace

SPACE = SearchSpace()

# Parameter counts of the stock models at 80 classes (YOLO("<name>.yaml"), ultralytics 8.4).
STOCK_PARAMS = {
    "yolo11n": 2_624_080,
    "yolov8n": 3_157_200,
    "yolov5nu": 2_654_816,
    "yolo11s": 9_458_752,
    "yolov8s": 11_166_560,
    "yolov5su": 9_153_152,
}


def _weights_dir() -> Path:
    """The shipped float checkpoints live beside the shared datasets (``../shared/weights/pt``)."""
    root = datasets_dir()
    folder = None if root is None else root.parent / "weights" / "pt"
    if folder is None or not folder.is_dir():
        pytest.skip("shipped checkpoints not found: place them at ../shared/weights/pt (beside ../shared/datasets)")
    return folder


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _detection_model(genome: ArchGenome) -> torch.nn.Module:
    from ultralytics.nn.tasks import DetectionModel

    return DetectionModel(model_dict(genome), nc=genome.head.nc, verbose=False)


def _assert_one_line_naming(info: pytest.ExceptionInfo, path: Path) -> str:
    message = str(info.value)
    assert str(path) in message, message
    assert "\n" not in message, message
    return message


# ---- shipped checkpoints and stock designs ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolo11n", "yolov8n", "yolov5nu"])
def test_shipped_checkpoints_are_recognised_exactly(name: str) -> None:
    path = _weights_dir() / f"{name}.pt"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    parent = load_parent_checkpoint(path)
    assert parent.genome == getattr(designs, name)()
    assert parent.genome.id == getattr(designs, name)().id
    assert parent.nc == 80 and parent.names[0] == "person" and len(parent.names) == 80
    assert parent.path == path
    assert not parent.model.training
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in parent.model.parameters())
    assert all(hasattr(m, "bn") for m in parent.model.modules() if type(m).__name__ == "Conv")  # not fused
    assert _params(parent.model) == STOCK_PARAMS[name]


@pytest.mark.slow
def test_recognition_does_not_depend_on_the_file_name(tmp_path: Path) -> None:
    source = _weights_dir() / "yolov5nu.pt"
    if not source.is_file():
        pytest.skip(f"{source} is missing")
    renamed = tmp_path / "weights_of_something.bin"
    renamed.write_bytes(source.read_bytes())
    assert load_parent_checkpoint(renamed).genome == designs.yolov5nu()
    assert load_parent(renamed).genome == designs.yolov5nu()  # no parent folder around it: plain checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolo11s", "yolov8s", "yolov5su"])
def test_s_models_saved_from_stock_yaml_are_recognised(name: str, tmp_path: Path) -> None:
    from ultralytics import YOLO

    yolo = YOLO(f"{name}.yaml")
    assert _params(yolo.model) == STOCK_PARAMS[name]
    path = tmp_path / f"{name}.pt"
    yolo.save(path)  # FP16, as Ultralytics ships its checkpoints
    parent = load_parent_checkpoint(path)
    assert parent.genome == getattr(designs, name)()
    assert _params(parent.model) == STOCK_PARAMS[name]
    plain = tmp_path / "plain.pt"
    torch.save({"model": yolo.model}, plain)
    assert load_parent_checkpoint(plain).genome == getattr(designs, name)()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STOCK_PARAMS))
def test_named_designs_build_with_stock_parameter_counts(name: str) -> None:
    from ultralytics import YOLO

    genome = designs.named_design(name)
    assert name in designs.NAMED_DESIGNS
    stock = YOLO(f"{name}.yaml").model
    built = _detection_model(genome)
    assert _params(built) == _params(stock) == STOCK_PARAMS[name]
    ours, theirs = built.state_dict(), stock.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    assert genome_of_model(stock) == genome


def test_yolov5nu_neck_is_the_stock_layout() -> None:
    layers, _, _ = build_layers(designs.yolov5nu())
    rows = layers.rows
    assert rows[0] == [-1, 1, "Conv", [16, 6, 2, 2]]
    assert rows[10] == [-1, 1, "Conv", [128, 1, 1]] and rows[14] == [-1, 1, "Conv", [64, 1, 1]]
    assert rows[19][0] == [-1, 14] and rows[22][0] == [-1, 10]  # bottom-up concats the lateral convs
    assert rows[24][0] == [17, 20, 23] and rows[24][2] == "Detect"


def test_ids_of_existing_designs_are_unchanged() -> None:
    # Pinned in tests/test_genome.py and tests/test_training_and_cli.py; both predate stem_kernel and lateral.
    assert designs.yolo11n().id == "ab91681c8a48"
    assert designs.yolov8n().id == "357f742abcfe"
    for genome in (designs.yolo11n(), designs.yolov8n()):
        data = genome.to_dict()
        assert "stem_kernel" not in data["backbone"] and "lateral" not in data["neck"]
    data = designs.yolov5nu().to_dict()
    assert data["backbone"]["stem_kernel"] == 6 and data["neck"]["lateral"] is True


@pytest.mark.slow
def test_sampled_genomes_are_recognised_from_their_models() -> None:
    rng = random.Random(5)
    for _ in range(12):
        genome = SPACE.sample(rng)
        got = genome_of_model(_detection_model(genome))
        expected = _ghost_shortcuts_on(genome)
        assert got == expected, (genome.id, got.to_json())


def _ghost_shortcuts_on(genome: ArchGenome) -> ArchGenome:
    """C3Ghost ignores ``shortcut``; the model cannot show it, so recognition reports True."""
    data = genome.to_dict()
    blocks = [s["block"] for s in data["backbone"]["stages"]] + data["neck"]["nodes"]
    for block in blocks:
        if block["type"] == "C3Ghost":
            block["shortcut"] = True
    return ArchGenome.from_dict(data)


# ---- bad inputs -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_yolo11n(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("ckpt") / "yolo11n_from_yaml.pt"
    YOLO("yolo11n.yaml").save(path)
    return path


def _save_model(path: Path, cfg: str | dict) -> Path:
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(cfg, verbose=False) if isinstance(cfg, dict) else YOLO(cfg).model
    torch.save({"model": model}, path)
    return path


def _attention_yolo11n() -> dict:
    """yolo11n's YAML with attention switched on in the P4 block (layer 6): a C3k2 the space does not have."""
    cfg = model_dict(designs.yolo11n())
    row = cfg["backbone"][6]
    assert row[2] == "C3k2"
    row[3][3] = True  # C3k2(c2, c3k, e, attn, g, shortcut)
    return cfg


def _relu_yolov8n() -> dict:
    """yolov8n's YAML with ReLU activations: the same tensors, but modules the space does not build."""
    return {**model_dict(designs.yolov8n()), "activation": "nn.ReLU()"}


BAD_FILES: dict[str, Callable[[Path, Path], Path]] = {
    "missing": lambda tmp, good: tmp / "nope.pt",
    "empty": lambda tmp, good: _write(tmp / "empty.pt", b""),
    "truncated": lambda tmp, good: _write(tmp / "truncated.pt", good.read_bytes()[: good.stat().st_size // 3]),
    "text renamed .pt": lambda tmp, good: _write(tmp / "notes.pt", b"these are my notes, not weights\n"),
    "no model": lambda tmp, good: _torch_save(tmp / "no_model.pt", {"epoch": 3, "train_args": {}}),
    "state_dict only": lambda tmp, good: _torch_save(tmp / "sd.pt", _state_dict(good)),
    "classification": lambda tmp, good: _save_model(tmp / "cls.pt", "yolo11n-cls.yaml"),
    "segmentation": lambda tmp, good: _save_model(tmp / "seg.pt", "yolo11n-seg.yaml"),
    "attention": lambda tmp, good: _save_model(tmp / "attn.pt", _attention_yolo11n()),
    "too wide": lambda tmp, good: _save_model(tmp / "wide.pt", "yolo11m.yaml"),
    "relu": lambda tmp, good: _save_model(tmp / "relu.pt", _relu_yolov8n()),
    "folder": lambda tmp, good: tmp,
}

EXPECTED = {
    "missing": "does not exist",
    "empty": "cannot be read",
    "truncated": "cannot be read",
    "text renamed .pt": "cannot be read",
    "no model": "holds no model",
    "state_dict only": "state_dict",
    "classification": "classification model",
    "segmentation": "segmentation model",
    "attention": "layer 6 (P4 block) is a C3k2 with attention, which the space does not have",
    "too wide": "layer 2 (P2 block)",
    "relu": "layer 0 (Conv) differs from genome 357f742abcfe: 'act' is a ReLU",
    "folder": "is a folder",
}


def _state_dict(path: Path) -> dict:
    return torch.load(path, weights_only=False)["model"].state_dict()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _torch_save(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


# The cases that build a model to save it run in the full suite only (5-10 s each on 2 cores).
BUILDS_A_MODEL = {"classification", "segmentation", "attention", "too wide", "relu"}


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if c in BUILDS_A_MODEL else c for c in sorted(BAD_FILES)]
)
def test_bad_checkpoints_give_one_line_errors_naming_the_file(case: str, tmp_path: Path, saved_yolo11n: Path) -> None:
    path = BAD_FILES[case](tmp_path, saved_yolo11n)
    with pytest.raises(CheckpointError) as info:
        load_parent_checkpoint(path)
    message = _assert_one_line_naming(info, path)
    assert EXPECTED[case] in message, message
    assert isinstance(info.value, ValueError)


def test_fused_model_is_refused(tmp_path: Path) -> None:
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml").model.fuse(verbose=False)
    path = _torch_save(tmp_path / "fused.pt", {"model": model})
    with pytest.raises(CheckpointError, match="fused") as info:
        load_parent_checkpoint(path)
    _assert_one_line_naming(info, path)


# ---- detnas parent folders ----------------------------------------------------------------------------------------


def _ghost_genome() -> ArchGenome:
    """A genome whose C3Ghost has shortcut=False: only the manifest can tell, the modules cannot."""
    data = designs.yolov8n().to_dict()
    data["backbone"]["stages"][1]["block"].update(type="C3Ghost", shortcut=False)
    return ArchGenome.from_dict(data)


def _parent_folder(root: Path, genome: ArchGenome, *, complete: bool = True) -> Path:
    folder = root / "parent"
    weights = folder / "train" / "weights" / "last.pt"
    weights.parent.mkdir(parents=True)
    (folder / PARENT_MANIFEST).write_text(
        json.dumps({"genome_id": genome.id, "genome": genome.to_dict(), "complete": complete}, indent=1)
    )
    _save_model(weights, model_dict(genome))
    return folder


@pytest.mark.slow
def test_parent_folder_uses_its_manifest_and_verifies_shapes(tmp_path: Path) -> None:
    genome = _ghost_genome()
    folder = _parent_folder(tmp_path, genome)
    weights = folder / "train" / "weights" / "last.pt"
    for source in (folder, weights):
        parent = load_parent(source)
        assert parent.genome == genome and parent.path == weights and parent.nc == 80
    assert load_parent_checkpoint(weights).genome == _ghost_shortcuts_on(genome)  # the modules alone


def test_parent_folder_whose_weights_do_not_match_is_refused(tmp_path: Path) -> None:
    folder = _parent_folder(tmp_path, designs.yolov8n())
    weights = folder / "train" / "weights" / "last.pt"
    _save_model(weights, model_dict(designs.yolo11n()))
    with pytest.raises(CheckpointError, match="layer 2 ") as info:
        load_parent(folder)
    _assert_one_line_naming(info, weights)


def test_unfinished_or_foreign_folders_are_refused(tmp_path: Path) -> None:
    folder = _parent_folder(tmp_path, designs.yolov8n(), complete=False)
    with pytest.raises(CheckpointError, match="detnas parent train") as info:
        load_parent(folder)
    _assert_one_line_naming(info, folder)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(CheckpointError, match=PARENT_MANIFEST) as info:
        load_parent(plain)
    _assert_one_line_naming(info, plain)


# ---- the new genes --------------------------------------------------------------------------------------------------


def test_new_genes_round_trip_through_json() -> None:
    for genome in (designs.yolov5nu(), designs.yolov5su()):
        assert ArchGenome.from_json(genome.to_json()) == genome
        assert ArchGenome.from_json(genome.to_json()).id == genome.id
    data = designs.yolov8n().to_dict()
    data["backbone"]["stem_kernel"] = 3  # present at its default: same genome, same id
    data["neck"]["lateral"] = False
    assert ArchGenome.from_dict(data) == designs.yolov8n() and ArchGenome.from_dict(data).id == designs.yolov8n().id


@pytest.mark.parametrize(
    ("mutate", "gene"),
    [
        (lambda d: d["backbone"].update(stem_kernel=5), "backbone.stem_kernel"),
        (lambda d: d["backbone"].update(stem_kernel=True), "backbone.stem_kernel"),
        (lambda d: d["neck"].update(lateral=1), "neck.lateral"),
        (lambda d: d["neck"].update(lateral="yes"), "neck.lateral"),
    ],
)
def test_wrong_new_gene_values_name_the_gene(mutate, gene: str) -> None:
    data = designs.yolov8n().to_dict()
    mutate(data)
    with pytest.raises(ValueError, match=gene.replace(".", r"\.")):
        ArchGenome.from_dict(data)


def test_lateral_wiring_per_topology() -> None:
    bb = designs.yolov8n().backbone
    nodes = {
        "fpn": (BlockGene("C2f", 1, 128), BlockGene("C2f", 1, 64)),
        "bifpn": tuple(BlockGene("C2f", 1, c) for c in (128, 64, 128, 256)),
    }
    fpn = ArchGenome(bb, NeckGenome("fpn", 3, nodes["fpn"], lateral=True))
    layers, _, outputs = build_layers(fpn)
    assert outputs[5].layer == 9  # FPN keeps the backbone's P5 as its P5 output; the lateral feeds only the upsample
    assert layers.rows[10] == [-1, 1, "Conv", [128, 1, 1]]
    bifpn = ArchGenome(bb, NeckGenome("bifpn", 3, nodes["bifpn"], lateral=True))
    layers, _, _ = build_layers(bifpn)
    assert layers.rows[19][0] == [-1, 14, 6]  # bu4: down, the P4 lateral conv, the backbone's P4
    assert layers.rows[22][0] == [-1, 10]  # bu5: down, the P5 lateral conv


def test_space_operators_cover_the_new_genes() -> None:
    genomes = [SPACE.sample(random.Random(seed)) for seed in range(300)]
    assert all(ArchGenome.from_json(g.to_json()) == g for g in genomes)
    assert {g.backbone.stem_kernel for g in genomes} == set(STEM_KERNELS)
    assert {g.neck.lateral for g in genomes} == {False, True}
    assert {g.neck.topology for g in genomes if g.neck.lateral} == {"fpn", "pan", "bifpn"}
    paths = [path for path, _ in SPACE.genes(designs.yolov8n())]
    assert ("backbone", "stem_kernel") in paths and ("neck", "lateral") in paths
    rng = random.Random(0)
    seen: set[tuple[str, ...]] = set()
    for genome in genomes:
        child = SPACE.mutate(genome, rng)
        if child.backbone.stem_kernel != genome.backbone.stem_kernel:
            assert {**_fields(child.backbone), "stem_kernel": 0} == {**_fields(genome.backbone), "stem_kernel": 0}
            assert child.neck == genome.neck
            seen.add(("stem_kernel",))
        if child.neck.lateral != genome.neck.lateral:
            assert child.backbone == genome.backbone and child.neck.nodes == genome.neck.nodes
            seen.add(("lateral",))
        cross = SPACE.crossover(genome, designs.yolov5nu(), rng)
        assert cross.id not in (genome.id, designs.yolov5nu().id)
    assert seen == {("stem_kernel",), ("lateral",)}
    narrow = SearchSpace(stem_kernels=(3,), laterals=(False,))
    assert SPACE.size() == narrow.size() * 2 * 2
    assert all(g.backbone.stem_kernel == 3 and not g.neck.lateral for g in (narrow.sample(rng) for _ in range(50)))
    info = SPACE.describe()
    assert info["backbone"]["stem_kernels"] == [3, 6]
    assert any(key.startswith("laterals") for key in info["neck"])
    with pytest.raises(ValueError, match="laterals"):
        SearchSpace(laterals=(0, 1))


def _fields(backbone: BackboneGenome) -> dict:
    return {name: getattr(backbone, name) for name in backbone.__dataclass_fields__}


@pytest.mark.slow
def test_genomes_with_new_genes_build_with_stock_yolo_and_run(tmp_path: Path) -> None:
    from ultralytics import YOLO

    rng = random.Random(11)
    wanted = {(t, m) for t in ("fpn", "pan", "bifpn") for m in (2, 3)}
    picked: list[ArchGenome] = []
    while wanted:
        genome = SPACE.sample(rng)
        key = (genome.neck.topology, genome.neck.min_level)
        if key in wanted and genome.neck.lateral and genome.backbone.stem_kernel == 6:
            wanted.discard(key)
            picked.append(genome)
    for genome in picked:
        model = YOLO(str(write_yaml(genome, tmp_path / f"{genome.id}.yaml"))).model.eval()
        strides = [4, 8, 16, 32] if genome.neck.min_level == 2 else [8, 16, 32]
        with torch.no_grad():
            preds = model(torch.zeros(1, 3, 64, 64))
        preds = preds[0] if isinstance(preds, (tuple, list)) else preds
        assert preds.shape == (1, 84, sum((64 // s) ** 2 for s in strides)), genome.id
        assert torch.isfinite(preds).all()


@pytest.mark.slow
def test_c3ghost_builds_at_every_channel_value() -> None:
    from ultralytics.nn.modules.block import C3Ghost

    values = sorted({c for level in LEVEL_CHANNELS.values() for c in level})
    assert 128 in LEVEL_CHANNELS[2] and 256 in LEVEL_CHANNELS[3]
    assert all(c % 8 == 0 for c in values)
    for channels in values:
        for expansion in EXPANSIONS:
            block = C3Ghost(channels, channels, 1, True, 1, expansion).eval()
            with torch.no_grad():
                out = block(torch.zeros(1, channels, 4, 4))
            assert out.shape == (1, channels, 4, 4), (channels, expansion)

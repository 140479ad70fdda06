"""Genome -> Ultralytics model YAML, as pure functions; and back from a YAML's header."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from detnas.backbone_space import build_backbone
from detnas.blocks import FeatureShape, LayerList
from detnas.errors import InputError, read_yaml_file
from detnas.genome import ArchGenome
from detnas.neck_space import build_neck

GENOME_PREFIX = "# genome: "


def build_layers(genome: ArchGenome) -> tuple[LayerList, int, dict[int, FeatureShape]]:
    """All rows (backbone then neck then Detect); also the backbone's row count and the head's input shapes."""
    layers = LayerList()
    pyramid = build_backbone(genome.backbone, layers)
    backbone_rows = len(layers.rows)
    outputs = build_neck(genome.neck, pyramid, layers)
    levels = sorted(outputs)
    layers.add(
        [[outputs[lv].layer for lv in levels], 1, "Detect", ["nc"]], f"Detect({', '.join(f'P{lv}' for lv in levels)})"
    )
    return layers, backbone_rows, outputs


def model_dict(genome: ArchGenome) -> dict[str, Any]:
    """The dict ``ultralytics.nn.tasks.DetectionModel(cfg=...)`` takes; explicit channels, no ``scales``."""
    layers, backbone_rows, _ = build_layers(genome)
    rows = [list(r) for r in layers.rows]
    spec = {"nc": genome.head.nc, "backbone": rows[:backbone_rows], "head": rows[backbone_rows:]}
    spec |= {"imgsz": genome.imgsz} if genome.imgsz else {}  # kept in checkpoints: predict/train default to it
    # how the design is deployed: stock Ultralytics ignores these keys; detnas export reads them from the checkpoint
    return spec | ({"precision": genome.precision, "runtime": genome.runtime} if genome.deployed else {})


def to_yaml(genome: ArchGenome) -> str:
    """The model YAML text: a header with the id and genome JSON, then one flow-style row per layer."""
    layers, backbone_rows, _ = build_layers(genome)
    lines = [
        f"# detnas architecture {genome.id}",
        "# Built by stock Ultralytics as it is: YOLO('this.yaml') or `yolo train model=this.yaml`.",
        "# Channels and repeats are explicit (no scales); every module is a stock Ultralytics module.",
        f"{GENOME_PREFIX}{genome.to_json()}",
        "",
        f"nc: {genome.head.nc} # number of classes (Ultralytics overrides it from the data YAML when training)",
        *(
            [f"imgsz: {genome.imgsz} # input size it was searched, scored and timed at: train/val/predict at it"]
            if genome.imgsz
            else []
        ),
        *(
            [
                f"precision: {genome.precision} # deployed at this precision (detnas export; Ultralytics ignores it)",
                f"runtime: {genome.runtime} # deployed on this runtime, scored and timed as that artifact",
            ]
            if genome.deployed
            else []
        ),
        "",
        "backbone:",
        "  # [from, repeats, module, args]",
    ]
    for i, (row, comment) in enumerate(zip(layers.rows, layers.comments, strict=True)):
        if i == backbone_rows:
            lines += ["", "head:"]
        lines.append(f"  - {_flow(row)} # {i} {comment}")
    return "\n".join(lines) + "\n"


def write_yaml(genome: ArchGenome, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(genome))
    return path


def genome_from_yaml(path: str | Path) -> ArchGenome:
    """Read the genome back from a detnas YAML's header; ValueError for a YAML detnas did not write."""
    path = Path(path)
    for line in path.read_text().splitlines():
        if line.startswith(GENOME_PREFIX):
            return ArchGenome.from_json(line[len(GENOME_PREFIX) :])
    raise ValueError(f"{path} has no '{GENOME_PREFIX.strip()}' header line: it was not written by detnas")


def _flow(value: Any) -> str:
    """YAML flow text for the scalars and lists a model row holds."""
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if value is None:
        return "None"  # Ultralytics' own YAMLs spell it so; parse_model literal-evaluates it
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value if value.replace(".", "").replace("_", "").isalnum() else json.dumps(value)
    return repr(value)


# ---------------------------------------------------------------- YAML files and built models
def load_arch_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a model YAML; raise InputError naming the file when it is missing or not a model mapping."""
    path = Path(path).expanduser()
    data = read_yaml_file(path, "architecture YAML", "pass the path of an Ultralytics model YAML")
    if not isinstance(data, dict) or "backbone" not in data or "head" not in data:
        raise InputError(f"architecture YAML {path} needs 'backbone:' and 'head:' layer lists (Ultralytics model YAML)")
    return data


def arch_sha256(path: str | Path) -> str:
    """Hash of the parsed YAML content (key order, comments and whitespace do not change it)."""
    data = load_arch_yaml(path)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_model(
    source: ArchGenome | str | Path,
    nc: int | None = None,
    *,
    names: dict[int, str] | None = None,
    verbose: bool = False,
):
    """The stock Ultralytics DetectionModel of a genome or a model YAML (random initialisation, train mode).

    ``nc`` defaults to the genome's class count or the YAML's ``nc``. A YAML is built exactly as training will build
    it (same ``parse_model``); whatever Ultralytics raises passes through, and callers decide whether that is a
    candidate fault or an input error.
    """
    import contextlib
    import io

    from ultralytics.nn.tasks import DetectionModel  # deferred: importing ultralytics takes about a second

    if isinstance(source, ArchGenome):
        nc = source.head.nc if nc is None else nc
        with contextlib.redirect_stdout(io.StringIO()):
            model = DetectionModel(cfg=model_dict(source.with_nc(nc)), ch=3, nc=nc, verbose=verbose)
    else:
        load_arch_yaml(source)
        model = DetectionModel(cfg=str(source), ch=3, nc=nc, verbose=verbose)
    if names is not None:
        model.names = dict(names)
    return model


def check_arch_yaml(path: str | Path, nc: int | None = None) -> None:
    """Raise InputError (one line) when the YAML does not build: for the CLI, where the YAML is the user's input."""
    try:
        build_model(path, nc)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - parse_model raises anything from KeyError to RuntimeError
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InputError(
            f"architecture YAML {path} does not build ({type(e).__name__}: {first[:200]}): "
            "fix the layer list (modules, 'from' indices, arguments)"
        ) from None

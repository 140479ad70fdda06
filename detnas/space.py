"""The search space as an object: its choices, its size, and the operators a strategy uses on it.

Strategies never touch genes directly; they call ``sample``, ``mutate`` and ``crossover`` here. Every operator is
seeded through the ``random.Random`` it is given and returns a valid genome (construction validates it).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from detnas.backbone_space import C2PSA_REPEATS, SPPF_KERNELS, STAGE_LEVELS, STEM_CHANNELS, STEM_KERNELS
from detnas.blocks import BLOCK_TYPES, BOOLS, DOWN_OPS, EXPANSIONS, LEVEL_CHANNELS, REPEATS
from detnas.genome import IMGSZ_CHOICES, PRECISION_CHOICES, RUNTIME_CHOICES, ArchGenome, HeadGenome
from detnas.neck_space import MIN_LEVELS, TOPOLOGIES, node_level, node_names

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class SearchSpace:
    """Which values each gene may take. The defaults are the whole space; pass subsets to narrow it."""

    stem_channels: tuple[int, ...] = STEM_CHANNELS
    stem_kernels: tuple[int, ...] = STEM_KERNELS
    down_ops: tuple[str, ...] = tuple(DOWN_OPS)
    block_types: tuple[str, ...] = BLOCK_TYPES
    repeats: tuple[int, ...] = REPEATS
    expansions: tuple[float, ...] = EXPANSIONS
    level_channels: dict[int, tuple[int, ...]] = field(default_factory=lambda: dict(LEVEL_CHANNELS))
    sppf_kernels: tuple[int, ...] = SPPF_KERNELS
    c2psa_repeats: tuple[int, ...] = C2PSA_REPEATS
    topologies: tuple[str, ...] = TOPOLOGIES
    min_levels: tuple[int, ...] = MIN_LEVELS
    laterals: tuple[bool, ...] = BOOLS
    nc: int = 80
    # Anchored to trained designs: genomes keep an anchor's module families (block types, stem kernel, lateral
    # neck, SPPF/C2PSA presence); sampling starts from an anchor and redraws every other gene. ``size`` ignores it.
    anchors: tuple[ArchGenome, ...] = ()
    # Input sizes searched jointly with the network (each candidate trains, is scored and timed at its own size).
    # Empty: genomes carry no size and the recipe's applies.
    imgsizes: tuple[int, ...] = ()
    # How candidates are deployed, searched with the network: each is exported to its runtime at its precision, then
    # scored and timed as that artifact. Empty: genomes carry no deploy genes (FP32 on the search's latency backend).
    # Given together; seeds start at FP32 on the first runtime.
    precisions: tuple[str, ...] = ()
    runtimes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, allowed in (("precisions", PRECISION_CHOICES), ("runtimes", RUNTIME_CHOICES)):
            values = getattr(self, name)
            if any(v not in allowed for v in values) or len(set(values)) != len(values):
                raise ValueError(f"search space {name}={list(values)} must be a subset of {list(allowed)}")
        if bool(self.precisions) != bool(self.runtimes):
            raise ValueError(
                f"search space precisions={list(self.precisions)} and runtimes={list(self.runtimes)}: give both "
                "(deployment searched) or neither"
            )
        bad_sizes = [v for v in self.imgsizes if type(v) is not int or v not in IMGSZ_CHOICES]
        if bad_sizes:
            raise ValueError(f"search space imgsizes={list(self.imgsizes)} must be a subset of {list(IMGSZ_CHOICES)}")
        catalog: dict[str, tuple[Any, ...]] = {
            "stem_channels": STEM_CHANNELS,
            "stem_kernels": STEM_KERNELS,
            "down_ops": tuple(DOWN_OPS),
            "block_types": BLOCK_TYPES,
            "repeats": REPEATS,
            "expansions": EXPANSIONS,
            "sppf_kernels": SPPF_KERNELS,
            "c2psa_repeats": C2PSA_REPEATS,
            "topologies": TOPOLOGIES,
            "min_levels": MIN_LEVELS,
            "laterals": BOOLS,
        }
        for name, allowed in catalog.items():
            values = getattr(self, name)
            # compare types too: True must not pass as the stem kernel 1, nor 1 as a lateral flag
            bad = [v for v in values if not any(v == a and type(v) is type(a) for a in allowed)]
            if not values or bad:
                raise ValueError(f"search space {name}={list(values)} must be a non-empty subset of {list(allowed)}")
        for level in STAGE_LEVELS:
            values = self.level_channels.get(level, ())
            if not values or any(v not in LEVEL_CHANNELS[level] for v in values):
                raise ValueError(
                    f"search space level_channels[{level}]={list(values)} must be a non-empty subset of "
                    f"{list(LEVEL_CHANNELS[level])}"
                )

    # ---- sampling -------------------------------------------------------------------------------------------------

    def sample(self, rng: random.Random) -> ArchGenome:
        """One genome, each gene drawn uniformly from its allowed values (with anchors: within an anchor's families)."""
        if self.anchors:
            data = full_dict(self.place(rng.choice(self.anchors)))
            for path, values in self.genes(ArchGenome.from_dict(data)):
                _set(data, path, rng.choice(values))
            _canonicalize(data)
            return ArchGenome.from_dict(data)
        topology, min_level = rng.choice(self.topologies), rng.choice(self.min_levels)
        data = {
            "backbone": {
                "stem_channels": rng.choice(self.stem_channels),
                "stem_kernel": _pick(rng, self.stem_kernels),
                "stages": [self._sample_stage(rng, level) for level in STAGE_LEVELS],
                "sppf": (sppf := rng.choice(BOOLS)),
                "sppf_kernel": rng.choice(self.sppf_kernels) if sppf else 5,
                "c2psa": (c2psa := rng.choice(BOOLS)),
                "c2psa_repeats": rng.choice(self.c2psa_repeats) if c2psa else 1,
            },
            "neck": {
                "topology": topology,
                "min_level": min_level,
                "down": rng.choice(self.down_ops) if topology != "fpn" else "Conv",
                "lateral": _pick(rng, self.laterals),
                "nodes": [self._sample_block(rng, node_level(n)) for n in node_names(topology, min_level)],
            },
            "head": {"nc": self.nc},
            **({"imgsz": rng.choice(self.imgsizes)} if self.imgsizes else {}),
        }
        if self.precisions:  # drawn last, so a space without them keeps its older seeded draws
            data |= {"precision": _pick(rng, self.precisions), "runtime": _pick(rng, self.runtimes)}
        return ArchGenome.from_dict(data)

    def _sample_stage(self, rng: random.Random, level: int) -> dict[str, Any]:
        down = rng.choice(self.down_ops)
        return {
            "down": down,
            "down_kernel": rng.choice(DOWN_OPS[down]),
            "down_channels": rng.choice(self.level_channels[level]),
            "block": self._sample_block(rng, level),
        }

    def _sample_block(self, rng: random.Random, level: int) -> dict[str, Any]:
        block_type = rng.choice(self.block_types)
        return {
            "type": block_type,
            "repeats": rng.choice(self.repeats),
            "channels": rng.choice(self.level_channels[level]),
            "expansion": rng.choice(self.expansions),
            "shortcut": rng.choice(BOOLS),
            "c3k": rng.choice(BOOLS) if block_type == "C3k2" else False,
            "large_kernel": rng.choice(BOOLS) if block_type == "C2fCIB" else False,
        }

    # ---- mutation -------------------------------------------------------------------------------------------------

    def genes(self, genome: ArchGenome) -> list[tuple[Path, tuple[Any, ...]]]:
        """Every gene that matters for this genome, with the values it may take (only genes with a real choice)."""
        slots: list[tuple[Path, tuple[Any, ...]]] = [
            (("backbone", "stem_channels"), self.stem_channels),
            (("backbone", "stem_kernel"), self.stem_kernels),
        ]
        bb = genome.backbone
        for i, (stage, level) in enumerate(zip(bb.stages, STAGE_LEVELS, strict=True)):
            base: Path = ("backbone", "stages", i)
            slots += [
                ((*base, "down"), self.down_ops),
                ((*base, "down_kernel"), DOWN_OPS[stage.down]),
                ((*base, "down_channels"), self.level_channels[level]),
            ]
            slots += self._block_genes((*base, "block"), stage.block.type, level)
        slots += [(("backbone", "sppf"), BOOLS), (("backbone", "c2psa"), BOOLS)]
        if bb.sppf:
            slots.append((("backbone", "sppf_kernel"), self.sppf_kernels))
        if bb.c2psa:
            slots.append((("backbone", "c2psa_repeats"), self.c2psa_repeats))
        neck = genome.neck
        slots += [
            (("neck", "topology"), self.topologies),
            (("neck", "min_level"), self.min_levels),
            (("neck", "lateral"), self.laterals),
        ]
        if neck.topology != "fpn":
            slots.append((("neck", "down"), self.down_ops))
        for j, name in enumerate(neck.names):
            slots += self._block_genes(("neck", "nodes", j), neck.nodes[j].type, node_level(name))
        if self.anchors:
            slots = [(path, values) for path, values in slots if path[-1] not in FAMILY_GENES]
        if self.imgsizes and genome.imgsz is not None:
            slots.append((("imgsz",), self.imgsizes))
        if self.precisions and genome.deployed:
            slots += [(("precision",), self.precisions), (("runtime",), self.runtimes)]
        return [(path, values) for path, values in slots if len(values) > 1]

    def place(self, genome: ArchGenome, imgsz: int | None = None) -> ArchGenome:
        """The genome at a size this space searches: ``imgsz`` if given, its own if allowed, else the largest; and,
        when the space searches deployment, at its own precision and runtime if allowed, else FP32 (or the space's
        first precision) on the first runtime.

        Seeds and named designs come without a size; placed at the largest they stand where a user runs them."""
        if self.precisions:
            precision, runtime = genome.precision, genome.runtime
            if precision not in self.precisions:
                precision = "fp32" if "fp32" in self.precisions else self.precisions[0]
            if runtime not in self.runtimes:
                runtime = self.runtimes[0]
            genome = genome.with_deployment(precision, runtime)
        elif genome.deployed:
            genome = genome.with_deployment(None, None)
        if not self.imgsizes:
            return genome
        if imgsz is not None:
            if imgsz not in self.imgsizes:
                raise ValueError(f"input size {imgsz} is not searched here: choose one of {list(self.imgsizes)}")
            return genome.with_imgsz(imgsz)
        return genome if genome.imgsz in self.imgsizes else genome.with_imgsz(max(self.imgsizes))

    def _block_genes(self, base: Path, block_type: str, level: int) -> list[tuple[Path, tuple[Any, ...]]]:
        slots = [
            ((*base, "type"), self.block_types),
            ((*base, "repeats"), self.repeats),
            ((*base, "channels"), self.level_channels[level]),
            ((*base, "expansion"), self.expansions),
            ((*base, "shortcut"), BOOLS),
        ]
        if block_type == "C3k2":
            slots.append(((*base, "c3k"), BOOLS))
        if block_type == "C2fCIB":
            slots.append(((*base, "large_kernel"), BOOLS))
        return slots

    def mutate(self, genome: ArchGenome, rng: random.Random) -> ArchGenome:
        """Change exactly one gene to another allowed value; genes made irrelevant fall back to their defaults."""
        genome = self.place(genome)
        path, values = rng.choice(self.genes(genome))
        current = gene_at(full_dict(genome), path)
        value = rng.choice([v for v in values if v != current])
        return self.with_gene(genome, path, value, rng)

    def with_gene(self, genome: ArchGenome, path: Path, value: Any, rng: random.Random) -> ArchGenome:
        data = full_dict(genome)
        _set(data, path, value)
        if path[0] == "neck" and path[1] in ("topology", "min_level"):
            old = dict(zip(genome.neck.names, data["neck"]["nodes"], strict=True))
            neck = data["neck"]
            names = node_names(neck["topology"], neck["min_level"])
            # Nodes that exist in both topologies keep their genes; new ones are sampled for their level.
            neck["nodes"] = [old[n] if n in old else self._sample_block(rng, node_level(n)) for n in names]
            if neck["topology"] == "fpn":
                neck["down"] = "Conv"
            elif genome.neck.topology == "fpn":
                neck["down"] = rng.choice(self.down_ops)
        _canonicalize(data)
        return ArchGenome.from_dict(data)

    # ---- crossover ------------------------------------------------------------------------------------------------

    def crossover(self, a: ArchGenome, b: ArchGenome, rng: random.Random, *, tries: int = 16) -> ArchGenome:
        """A child that differs from both parents.

        First whole units are swapped (stem, each stage, the tail, the whole neck), so the child keeps working parts;
        if that cannot make a new genome, single genes are mixed; parents that differ in one gene or less cannot have
        a child unlike both, so then the child is a mutation of ``a``.
        """
        a, b = self.place(a), self.place(b)
        da, db = full_dict(a), full_dict(b)
        if self.anchors and block_families(da) != block_families(db):
            return self.mutate(a, rng)  # a mix of two families inherits from neither parent
        for units in (_units(da), _genes_flat(da, db)):
            differing = [u for u in units if gene_at(da, u) != gene_at(db, u)]
            if len(differing) < 2:
                continue
            for _ in range(tries):
                child = da if rng.random() < 0.5 else db
                child = _deep_copy(child)
                for unit in differing:
                    _set(child, unit, _deep_copy(gene_at(rng.choice((da, db)), unit)))
                _canonicalize(child)
                try:
                    genome = ArchGenome.from_dict(child)
                except ValueError:
                    continue  # a mix of genes from parents with different neck shapes: try another draw
                if genome.id not in (a.id, b.id):
                    return genome
        return self.mutate(a, rng)

    # ---- size and description -------------------------------------------------------------------------------------

    def block_count(self, level: int) -> int:
        per_type = sum(len(self.expansions) * 2 * (2 if t in ("C3k2", "C2fCIB") else 1) for t in self.block_types)
        return per_type * len(self.repeats) * len(self.level_channels[level])

    def size(self) -> int:
        """The exact number of distinct valid genomes (at a fixed class count)."""
        backbone = len(self.stem_channels) * len(self.stem_kernels)
        for level in STAGE_LEVELS:
            downs = sum(len(DOWN_OPS[op]) for op in self.down_ops) * len(self.level_channels[level])
            backbone *= downs * self.block_count(level)
        backbone *= (1 + len(self.sppf_kernels)) * (1 + len(self.c2psa_repeats))
        neck = 0
        for topology in self.topologies:
            for min_level in self.min_levels:
                count = (1 if topology == "fpn" else len(self.down_ops)) * len(self.laterals)
                for name in node_names(topology, min_level):
                    count *= self.block_count(node_level(name))
                neck += count
        return backbone * neck * max(1, len(self.imgsizes)) * max(1, len(self.precisions)) * max(1, len(self.runtimes))

    def describe(self) -> dict[str, Any]:
        """Dimensions and choices, for ``detnas space info``."""
        size = self.size()
        return {
            "size": size,
            "log10_size": round(math.log10(size), 2),
            "backbone": {
                "stem_channels": list(self.stem_channels),
                "stem_kernels": list(self.stem_kernels),
                "stages": {f"P{lv}": {"channels": list(self.level_channels[lv])} for lv in STAGE_LEVELS},
                "down_ops": {op: list(DOWN_OPS[op]) for op in self.down_ops},
                "tail": {
                    "sppf": [False, True],
                    "sppf_kernel": list(self.sppf_kernels),
                    "c2psa": [False, True],
                    "c2psa_repeats": list(self.c2psa_repeats),
                },
            },
            "blocks": {
                "types": list(self.block_types),
                "repeats": list(self.repeats),
                "expansion": list(self.expansions),
                "shortcut": [False, True],
                "c3k (C3k2 only)": [False, True],
                "large_kernel (C2fCIB only)": [False, True],
            },
            "neck": {
                "topologies": list(self.topologies),
                "outputs": [f"P{m}-P5" for m in self.min_levels],
                "nodes": {f"{t} P{m}-P5": list(node_names(t, m)) for t in self.topologies for m in self.min_levels},
                "bottom_up_down_ops": list(self.down_ops),
                "laterals": list(self.laterals),
            },
            "head": "Detect(nc) over the neck's output levels",
            "imgsz": list(self.imgsizes) or "the recipe's (not searched)",
            "precision": list(self.precisions) or "fp32 (not searched)",
            "runtime": list(self.runtimes) or "the search's latency backend (not searched)",
        }

    def head(self) -> HeadGenome:
        return HeadGenome(self.nc)


FAMILY_GENES = ("type", "stem_kernel", "lateral", "sppf", "c2psa", "topology", "min_level", "down")


def block_families(data: dict[str, Any]) -> list[Any]:
    """The family genes of a genome dict, in a fixed order."""
    found: list[Any] = []

    def walk(node: Any, key: Any) -> None:
        if isinstance(node, dict):
            for k in sorted(node):
                walk(node[k], k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif key in FAMILY_GENES:
            found.append((key, node))

    walk(data, None)
    return found


def _units(data: dict[str, Any]) -> list[Path]:
    """Crossover units: parts that work as a whole."""
    units: list[Path] = [("backbone", "stem_channels"), ("backbone", "stem_kernel")]
    units += [("backbone", "stages", i) for i in range(len(STAGE_LEVELS))]
    units += [("backbone", "sppf"), ("backbone", "sppf_kernel"), ("backbone", "c2psa"), ("backbone", "c2psa_repeats")]
    units.append(("neck",))
    return [*units, *_top_genes(data)]


def _top_genes(data: dict[str, Any]) -> list[Path]:
    """The optional top-level genes a genome dict carries (input size, deployment)."""
    return [(key,) for key in ("imgsz", "precision", "runtime") if key in data]


def _genes_flat(da: dict[str, Any], db: dict[str, Any]) -> list[Path]:
    """Leaf paths of ``da``; where the two necks differ in shape, the neck stays one unit."""
    same_neck_shape = (da["neck"]["topology"], da["neck"]["min_level"]) == (
        db["neck"]["topology"],
        db["neck"]["min_level"],
    )
    leaves: list[Path] = []

    def walk(node: Any, path: Path) -> None:
        if path == ("neck",) and not same_neck_shape:
            leaves.append(path)
        elif isinstance(node, dict):
            for key in node:
                walk(node[key], (*path, key))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, (*path, i))
        else:
            leaves.append(path)

    walk({"backbone": da["backbone"], "neck": da["neck"]}, ())
    return [*leaves, *_top_genes(da)]


def _canonicalize(data: dict[str, Any]) -> None:
    """Reset genes that the rest of the genome makes irrelevant to their defaults, in place."""
    blocks = [s["block"] for s in data["backbone"]["stages"]] + list(data["neck"]["nodes"])
    for block in blocks:
        if block["type"] != "C3k2":
            block["c3k"] = False
        if block["type"] != "C2fCIB":
            block["large_kernel"] = False
    for stage in data["backbone"]["stages"]:
        if stage["down_kernel"] not in DOWN_OPS.get(stage["down"], ()):
            stage["down_kernel"] = 3
    bb = data["backbone"]
    if not bb["sppf"]:
        bb["sppf_kernel"] = 5
    if not bb["c2psa"]:
        bb["c2psa_repeats"] = 1
    if data["neck"]["topology"] == "fpn":
        data["neck"]["down"] = "Conv"


def full_dict(genome: ArchGenome) -> dict[str, Any]:
    """``to_dict`` with every gene present, defaults included, so operators can address genes the id omits."""
    data = genome.to_dict()
    data["backbone"]["stem_kernel"] = genome.backbone.stem_kernel
    data["neck"]["lateral"] = genome.neck.lateral
    return data


def _pick(rng: random.Random, values: tuple[Any, ...]) -> Any:
    """``rng.choice`` that draws nothing for a single value, so narrowing a gene keeps older seeded draws."""
    return values[0] if len(values) == 1 else rng.choice(values)


def gene_at(data: Any, path: Path) -> Any:
    for key in path:
        data = data[key]
    return data


def _set(data: Any, path: Path, value: Any) -> None:
    gene_at(data, path[:-1])[path[-1]] = value


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def anchored_space(
    *,
    nc: int = 80,
    imgsizes: tuple[int, ...] = (),
    precisions: tuple[str, ...] = (),
    runtimes: tuple[str, ...] = (),
) -> SearchSpace:
    """The designs COCO-trained YOLO11n/YOLOv8n/YOLOv5nu checkpoints can seed with working weights.

    Every genome keeps one of their module families (block types, stem, neck wiring, SPPF/C2PSA) while widths,
    depths, expansions, kernels, shortcuts and attention repeats vary, because a layer of another family starts from
    random weights, which a brief CPU fine-tune cannot train: measured, a YOLOv5nu descendant whose C3 stages became
    C2f/C3k2 (3 fresh layers, 59% inherited) scored mAP50-95 0.0000 where its parent scored 0.26."""
    from detnas.designs import yolo11n, yolov5nu, yolov8n

    return SearchSpace(
        nc=nc,
        down_ops=("Conv",),
        topologies=("pan",),
        min_levels=(3,),
        anchors=(yolo11n(nc=nc), yolov8n(nc=nc), yolov5nu(nc=nc)),
        imgsizes=imgsizes,
        precisions=precisions,
        runtimes=runtimes,
    )

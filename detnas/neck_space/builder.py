"""Neck genome -> YAML rows, wired to the shapes the backbone declares (not to backbone classes)."""

from __future__ import annotations

from detnas.blocks import FeatureShape, LayerList, down_row
from detnas.neck_space.genome import NeckGenome


def build_neck(genome: NeckGenome, inputs: dict[int, FeatureShape], layers: LayerList) -> dict[int, FeatureShape]:
    """Append the neck's rows; return {level: shape} of the maps the head reads (P{min_level}..P5)."""
    missing = [level for level in genome.levels if level not in inputs]
    if missing:
        raise ValueError(f"neck needs backbone levels {list(genome.levels)}, the backbone gives {sorted(inputs)}")
    genes = dict(zip(genome.names, genome.nodes, strict=True))

    top_down: dict[int, FeatureShape] = {5: inputs[5]}
    # What a bottom-up node at a level concats from the top-down path: the node itself, or (lateral) its 1x1 conv.
    across: dict[int, FeatureShape] = {5: inputs[5]}
    previous = inputs[5]
    for level in range(4, genome.min_level - 1, -1):
        stride = 2**level
        node = genes[f"td{level}"]
        if genome.lateral:
            above = 2 * stride
            index = layers.add(
                [layers.source(previous.layer), 1, "Conv", [node.channels, 1, 1]], f"P{level + 1}/{above} lateral"
            )
            previous = across[level + 1] = FeatureShape(index, node.channels, above)
        up = layers.add(
            [layers.source(previous.layer), 1, "nn.Upsample", [None, 2, "nearest"]], f"P{level}/{stride} upsample"
        )
        layers.add([[layers.source(up), inputs[level].layer], 1, "Concat", [1]], f"P{level}/{stride} concat backbone")
        previous = FeatureShape(layers.add(node.yaml_row(-1), f"P{level}/{stride} td{level}"), node.channels, stride)
        top_down[level] = previous
        if not genome.lateral:
            across[level] = previous
    if genome.topology == "fpn":
        return {level: top_down[level] for level in genome.levels}

    outputs = {genome.min_level: top_down[genome.min_level]}
    for level in range(genome.min_level + 1, 6):
        stride = 2**level
        down = layers.add(
            down_row(genome.down, 3, previous.channels, layers.source(previous.layer)), f"P{level}/{stride} down"
        )
        sources = [layers.source(down), across[level].layer]
        if genome.topology == "bifpn" and level < 5:
            sources.append(inputs[level].layer)  # the extra same-level edge from the backbone
        layers.add([sources, 1, "Concat", [1]], f"P{level}/{stride} concat")
        node = genes[f"bu{level}"]
        previous = FeatureShape(layers.add(node.yaml_row(-1), f"P{level}/{stride} bu{level}"), node.channels, stride)
        outputs[level] = previous
    return outputs

"""Feature-map shapes: what a backbone declares and what a neck wires to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureShape:
    """A feature map as the YAML sees it: the layer that makes it, its channels and its stride."""

    layer: int
    channels: int
    stride: int

    @property
    def level(self) -> int:
        return self.stride.bit_length() - 1  # stride 8 -> P3


class LayerList:
    """The rows of an Ultralytics model YAML under construction, with a comment per row."""

    def __init__(self) -> None:
        self.rows: list[list] = []
        self.comments: list[str] = []

    def add(self, row: list, comment: str) -> int:
        """Append ``[from, repeats, module, args]`` and return its layer index."""
        self.rows.append(row)
        self.comments.append(comment)
        return len(self.rows) - 1

    def source(self, layer: int) -> int:
        """How a new row refers to ``layer``: -1 when it is the row just before, as Ultralytics writes it."""
        return -1 if layer == len(self.rows) - 1 else layer

"""Named layer groups an ONNX Runtime INT8 artifact can keep in float (issue 20's float-keep question): each group is
the right layers of every shipped design, the groups partition the network, and a bad request is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from detnas.errors import InputError
from detnas.evaluate.deployed import FLOAT_GROUPS, export_deployable, float_group_nodes, layer_groups
from detnas.evaluate.stock import write_stock_yaml


@pytest.mark.parametrize(
    ("design", "tail", "detect"), [("yolo11n", [9, 10], 23), ("yolov8n", [9], 22), ("yolov5nu", [9], 24)]
)
def test_groups_partition_each_shipped_design(design: str, tail: list[int], detect: int, tmp_path: Path) -> None:
    model = yaml.safe_load(write_stock_yaml(design, tmp_path).read_text())
    groups = layer_groups(model)
    assert groups["stem"] == [0, 1] and groups["tail"] == tail and groups["head"] == [detect]
    assert model["backbone"][groups["stages"][-1]][2] in ("C3k2", "C2f", "C3")  # the last stage block, not SPPF
    every = sorted(i for g in FLOAT_GROUPS for i in groups[g])
    assert every == list(range(len(model["backbone"]) + len(model["head"])))  # each layer in exactly one group


class _Node:
    def __init__(self, name: str) -> None:
        self.name = name


class _Graph:
    def __init__(self, names: list[str]) -> None:
        self.node = [_Node(n) for n in names]


def test_nodes_of_a_group_are_its_layers_and_head_is_the_branches_only(tmp_path: Path) -> None:
    model = yaml.safe_load(write_stock_yaml("yolo11n", tmp_path).read_text())
    graph = _Graph(["/model.0/conv/Conv", "/model.1/conv/Conv", "/model.9/cv1/conv/Conv", "/model.15/m.0/Conv",
                    "/model.23/cv2.0/cv2.0.0/conv/Conv", "/model.23/cv3.1/Conv", "/model.23/dfl/conv/Conv",
                    "/model.23/Sigmoid", "images_cast"])  # fmt: skip
    assert float_group_nodes(graph, model, ("stem",)) == ["/model.0/conv/Conv", "/model.1/conv/Conv"]
    assert float_group_nodes(graph, model, ("tail", "neck")) == ["/model.9/cv1/conv/Conv", "/model.15/m.0/Conv"]
    assert float_group_nodes(graph, model, ("head",)) == ["/model.23/cv2.0/cv2.0.0/conv/Conv", "/model.23/cv3.1/Conv"]
    with pytest.raises(InputError, match=r"float groups \['body'\] are not known: choose from stem, stages"):
        float_group_nodes(graph, model, ("body",))


def test_float_groups_are_refused_for_openvino_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    with pytest.raises(InputError, match="float groups apply to ONNX Runtime INT8 only"):
        export_deployable("x.pt", runtime="openvino", precision="int8", imgsz=64, out=tmp_path, data="d.yaml",
                          float_groups=("head",))  # fmt: skip

"""``detnas space show`` never writes a YAML name that stock Ultralytics swaps for its own YOLOv5 config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from detnas.cli import main


def test_yolov5nu_into_a_folder_loads_as_written(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from ultralytics.nn.tasks import yaml_model_load

    assert main(["space", "show", "yolov5nu", "--out", f"{tmp_path}/"]) == 0
    written = tmp_path / "yolov5nu-detnas.yaml"
    loaded = yaml_model_load(written)  # what YOLO("...yaml") parses
    assert loaded["backbone"] == yaml.safe_load(written.read_text())["backbone"]


def test_a_name_ultralytics_would_swap_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["space", "show", "yolov5nu", "--out", str(tmp_path / "yolov5nu.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "yolov5nu-detnas.yaml" in err[0]
    assert not (tmp_path / "yolov5nu.yaml").exists()

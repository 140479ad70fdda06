"""Bad input gives one clear line naming the file and the fix (InputError; the CLI prints 'error: ...', exit 2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from detnas.cli import main
from detnas.evaluate import InputError, Recipe, check_arch_yaml, prepare_data
from tests.helpers import detnas

NAMES = {0: "person", 1: "bicycle", 2: "car"}


@pytest.fixture
def tiny_data(coco8: Path, tmp_path: Path) -> Path:
    """A 2+2 image dataset in tmp_path built from real coco8 images, relabelled to 3 classes."""
    root = tmp_path / "tiny"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for image in sorted((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))[:2]:
            shutil.copy(image, root / "images" / split / image.name)
            (root / "labels" / split / f"{image.stem}.txt").write_text("0 0.5 0.5 0.2 0.2\n2 0.3 0.3 0.1 0.1\n")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"train": "images/train", "val": "images/val", "names": NAMES}))
    return data


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_good_tiny_data_passes(tiny_data: Path, tmp_path: Path):
    prepared = prepare_data(tiny_data, Recipe(), tmp_path / "work")
    assert len(prepared.train_images) == 2 and prepared.nc == 3


def test_missing_data_yaml(tmp_path: Path):
    with pytest.raises(InputError) as error:
        prepare_data(tmp_path / "nope.yaml", Recipe(), tmp_path / "work")
    assert "nope.yaml does not exist" in _one_line(error)


def test_data_yaml_names_missing_folder(tiny_data: Path, tmp_path: Path):
    tiny_data.write_text(yaml.safe_dump({"train": "images/train", "val": "images/valid", "names": NAMES}))
    with pytest.raises(InputError) as error:
        prepare_data(tiny_data, Recipe(), tmp_path / "work")
    message = _one_line(error)
    assert str(tiny_data) in message and "'val:'" in message and "images/valid does not exist" in message


def test_image_that_does_not_decode(tiny_data: Path, tmp_path: Path):
    bad = next((tiny_data.parent / "images" / "train").glob("*.jpg"))
    bad.write_bytes(b"this is not a jpeg" * 10)
    with pytest.raises(InputError) as error:
        prepare_data(tiny_data, Recipe(), tmp_path / "work")
    assert f"image {bad} does not decode" in _one_line(error)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("0 0.5 0.5 0.2", "has 4 fields, expected 5"),
        ("7 0.5 0.5 0.2 0.2", "class 7 is not an integer in [0, 2]"),
        ("0.5 0.5 0.5 0.2 0.2", "class 0.5 is not an integer"),
        ("1 0.5 1.5 0.2 0.2", "must be normalized to [0, 1]"),
        ("1 0.5 x 0.2 0.2", "non-number"),
    ],
)
def test_bad_label_lines(tiny_data: Path, tmp_path: Path, line: str, expected: str):
    label = next((tiny_data.parent / "labels" / "val").glob("*.txt"))
    label.write_text(f"0 0.5 0.5 0.2 0.2\n{line}\n")
    with pytest.raises(InputError) as error:
        prepare_data(tiny_data, Recipe(), tmp_path / "work")
    message = _one_line(error)
    assert f"label file {label} line 2" in message and expected in message


def test_architecture_yaml_that_does_not_build(tmp_path: Path):
    arch = tmp_path / "broken.yaml"
    arch.write_text("nc: 3\nbackbone:\n  - [-1, 1, NoSuchBlock, [16]]\nhead:\n  - [[0], 1, Detect, [nc]]\n")
    with pytest.raises(InputError) as error:
        check_arch_yaml(arch, 3)
    assert f"architecture YAML {arch} does not build" in _one_line(error)
    with pytest.raises(InputError, match="does not exist"):
        check_arch_yaml(tmp_path / "missing.yaml")
    (tmp_path / "nolayers.yaml").write_text("nc: 3\n")
    with pytest.raises(InputError, match="needs 'backbone:' and 'head:'"):
        check_arch_yaml(tmp_path / "nolayers.yaml")


def test_cli_prints_one_error_line_and_exits_2(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    arch = tmp_path / "broken.yaml"
    arch.write_text("nc: 3\nbackbone:\n  - [-1, 1, NoSuchBlock, [16]]\nhead:\n  - [[0], 1, Detect, [nc]]\n")
    assert main(["evaluate", str(arch), "--data", str(tiny_data), "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: architecture YAML") and "does not build" in err[0]
    assert main(["evaluate", str(arch), "--data", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: data YAML {tmp_path / 'none.yaml'} does not exist: pass an existing Ultralytics data YAML (--data)"
    ]


def test_cli_help():
    result = detnas("evaluate", "--help")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for flag in (
        "--data",
        "--epochs",
        "--imgsz",
        "--subset",
        "--seed",
        "--device",
        "--latency-backend",
        "--out",
        "--timeout",
    ):
        assert flag in out

"""``detnas predict`` with unreadable images among its inputs: each one is named in an ``error:`` line, the readable
ones are still predicted and written, and the exit status says some failed (1), or that none could be read (2).

Real data: the COCO-trained yolo11n.pt of the shared weights and a coco8 image; the bad copies are written here.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import detnas


@pytest.fixture
def images(coco8: Path, tmp_path: Path) -> dict[str, Path]:
    """A folder holding one good COCO image, a copy of it cut in half and a text file named .jpg."""
    good = sorted((coco8.parent / "coco8" / "images" / "val").glob("*.jpg"))[0]
    folder = tmp_path / "images"
    folder.mkdir()
    copies = {"good": folder / good.name, "truncated": folder / "truncated.jpg", "text": folder / "x.jpg"}
    shutil.copyfile(good, copies["good"])
    data = good.read_bytes()
    copies["truncated"].write_bytes(data[: len(data) // 2])
    copies["text"].write_text("not an image, only named like one\n")
    return copies


def _errors(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_readable_images_are_predicted_and_bad_ones_named(
    shared_yolo11n: Path, images: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "pred"
    result = detnas("predict", str(shared_yolo11n), str(images["good"].parent), "--out", str(out))
    assert result.returncode == 1, result.stderr[-3000:]

    errors = _errors(result)
    assert len(errors) == 2, result.stderr[-3000:]
    for kind, why in (("truncated", "truncated or corrupt"), ("text", "not an image file")):
        line = next(e for e in errors if str(images[kind]) in e)
        assert line.startswith(f"error: {images[kind]}: cannot be read as an image (") and why in line, line
    assert not any(str(images["good"]) in e for e in errors)
    assert "2 could not be read" in result.stdout

    annotated = sorted(p.name for p in (out / "images").iterdir())
    assert annotated == [images["good"].name]  # only the readable image is drawn
    assert (out / "images" / images["good"].name).stat().st_size > 1000
    payload = json.loads((out / "detections.json").read_text())
    assert payload["images"] == [str(images["good"])]
    assert {f["image"] for f in payload["failed"]} == {str(images["truncated"]), str(images["text"])}
    assert payload["detections"] and {d["image"] for d in payload["detections"]} == {str(images["good"])}
    with open(out / "detections.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(payload["detections"])


def test_no_readable_image_is_bad_input(
    shared_yolo11n: Path, images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Refused before the model loads (in-process: nothing slow runs), one line naming every bad file, exit 2."""
    from detnas.cli import main

    out = tmp_path / "pred"
    assert main(["predict", str(shared_yolo11n), str(images["truncated"]), "--out", str(out)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"error: {images['truncated']}: cannot be read as an image")
    assert main(["predict", str(shared_yolo11n), str(images["truncated"]), str(images["text"]), "--out", str(out)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and str(images["truncated"]) in errors[0] and str(images["text"]) in errors[0]
    assert not out.exists()  # nothing written


def test_image_problem_decodes_in_full(images: dict[str, Path], tmp_path: Path) -> None:
    """A cut JPEG fails the check (OpenCV's imread returns its first half, padded grey, without an error)."""
    from detnas.deploy.predict import image_problem

    assert image_problem(images["good"]) is None
    assert "truncated" in (image_problem(images["truncated"]) or "")
    assert "not an image file" in (image_problem(images["text"]) or "")
    empty = tmp_path / "empty.png"
    empty.touch()
    assert "empty file" in (image_problem(empty) or "")

"""Own-data YAMLs that cannot be searched are refused before anything is written, in one line that names the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from detnas.cli import main

GOOD_LABEL = "0 0.5 0.5 0.2 0.2\n"


def _task(
    tmp_path: Path, coco8: Path, *, names: str, nc: str = "", label: str = GOOD_LABEL, val_label: str = GOOD_LABEL
):
    """A 2-image task made of real coco8 images (one train, one val) with the given names and label lines."""
    images = sorted((coco8.parent / "coco8" / "images" / "train").glob("*.jpg"))[:2]
    for split, image, text in (("train", images[0], label), ("val", images[1], val_label)):
        (tmp_path / "images" / split).mkdir(parents=True, exist_ok=True)
        (tmp_path / "labels" / split).mkdir(parents=True, exist_ok=True)
        shutil.copy(image, tmp_path / "images" / split / image.name)
        (tmp_path / "labels" / split / image.with_suffix(".txt").name).write_text(text)
    yaml = tmp_path / "task.yaml"
    yaml.write_text(f"train: images/train\nval: images/val\n{nc}names: {names}\n")
    return yaml


@pytest.mark.parametrize(
    ("case", "kwargs", "says"),
    [
        ("nc disagrees with names", {"names": "[a, b]", "nc": "nc: 3\n"}, "nc=3 but 'names' has 2 entries"),
        ("empty class list", {"names": "[]"}, "'names' is empty"),
        ("class id >= nc", {"names": "[a, b]", "label": "2 0.5 0.5 0.2 0.2\n"}, "class 2 is not an integer in [0, 1]"),
        ("val split with no labels", {"names": "[a]", "val_label": ""}, "none of its 1 val images has a box"),
    ],
)
def test_bad_own_data_is_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, coco8: Path, case: str, kwargs: dict, says: str
) -> None:
    data = _task(tmp_path / "data", coco8, **kwargs)
    out = tmp_path / "run"
    code = main(["search", "--out", str(out), "--data", str(data), "--proxy", "tse", "--evaluations", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, (case, err)
    assert says in errors[0] and str(tmp_path / "data") in errors[0], errors[0]
    assert not out.exists()

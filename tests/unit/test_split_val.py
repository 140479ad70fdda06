"""The search / held-out split of val images: disjoint halves, fixed by the seed, from a list or a folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from detnas.datasets import split_val


def _images(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{i:03d}.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    return sorted(str(p) for p in folder.glob("*.jpg"))


def _val(path: Path) -> list[str]:
    spec = yaml.safe_load(path.read_text())
    return Path(spec["val"]).read_text().split()


@pytest.mark.parametrize("layout", ["folder", "list"])
def test_halves_are_disjoint_cover_val_and_repeat(tmp_path: Path, layout: str) -> None:
    images = _images(tmp_path / "images" / "val", 9)
    if layout == "list":
        (tmp_path / "val.txt").write_text("\n".join(str(Path(p).relative_to(tmp_path)) for p in images))
    spec = {"train": "images/train", "val": "images/val" if layout == "folder" else "val.txt", "names": {0: "a"}}
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(spec))
    search, heldout = split_val(tmp_path / "own.yaml", tmp_path / "split", seed=0)
    a, b = _val(search), _val(heldout)
    assert len(a) == 4 and len(b) == 5 and not set(a) & set(b)
    assert sorted(a + b) == [os.path.abspath(p) for p in images]  # every image, the text file left out
    assert yaml.safe_load(search.read_text())["train"] == os.path.abspath(tmp_path / "images" / "train")
    again, _ = split_val(tmp_path / "own.yaml", tmp_path / "again", seed=0)
    other, _ = split_val(tmp_path / "own.yaml", tmp_path / "other", seed=1)
    assert _val(again) == a and _val(other) != a


def test_val_that_cannot_be_split_is_refused(tmp_path: Path) -> None:
    _images(tmp_path / "images" / "val", 1)
    (tmp_path / "own.yaml").write_text(yaml.safe_dump({"train": "t", "val": "images/val", "names": {0: "a"}}))
    with pytest.raises(ValueError, match="at least 2"):
        split_val(tmp_path / "own.yaml", tmp_path / "split")
    (tmp_path / "gone.yaml").write_text(yaml.safe_dump({"train": "t", "val": "missing", "names": {0: "a"}}))
    with pytest.raises(ValueError, match="neither an image-list file nor a folder"):
        split_val(tmp_path / "gone.yaml", tmp_path / "split")

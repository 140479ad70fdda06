"""A data set's val images split once into a *search* half and a *held-out* half.

A search picks designs by their score on the images it sees; a figure published for the picked designs must come
from images it never saw, or it flatters them. The split is fixed: sorted image list, shuffled with
``random.Random(seed)``, first half for the search, second held out.
"""

from __future__ import annotations

import random
from pathlib import Path

import yaml


def split_val(source: Path, out: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """Data YAMLs ``OUT/<name>_search.yaml`` and ``OUT/<name>_heldout.yaml``: same train split, halves of val.

    ``source``'s val must be an image-list file (one path per line, relative to the YAML's folder).
    """
    spec = yaml.safe_load(source.read_text())
    listing = source.parent / spec["val"]
    if not listing.is_file():
        raise ValueError(f"{source}: val {spec['val']!r} is not an image-list file; a search/held-out split needs one")
    lines = sorted(x for x in listing.read_text().splitlines() if x.strip())
    random.Random(seed).shuffle(lines)
    half = len(lines) // 2
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, part in (("search", lines[:half]), ("heldout", lines[half:])):
        images = out / f"val_{name}.txt"
        images.write_text("\n".join(str((source.parent / x).resolve()) for x in sorted(part)) + "\n")
        train = str((source.parent / spec["train"]).resolve())
        data = {"train": train, "val": str(images.resolve()), "names": spec["names"]}
        path = out / f"{source.stem}_{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        paths.append(path)
    return paths[0], paths[1]

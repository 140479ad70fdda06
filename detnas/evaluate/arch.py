"""Architecture YAMLs: identity (content hash) and a cheap build check."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .errors import InputError, read_yaml_file


def load_arch_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a model YAML; raise InputError naming the file when it is missing or not a model mapping."""
    path = Path(path).expanduser()
    data = read_yaml_file(path, "architecture YAML", "pass the path of an Ultralytics model YAML")
    if not isinstance(data, dict) or "backbone" not in data or "head" not in data:
        raise InputError(f"architecture YAML {path} needs 'backbone:' and 'head:' layer lists (Ultralytics model YAML)")
    return data


def arch_sha256(path: str | Path) -> str:
    """Hash of the parsed YAML content (key order, comments and whitespace do not change it)."""
    data = load_arch_yaml(path)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_model(path: str | Path, nc: int | None = None, *, verbose: bool = False):
    """Build the Ultralytics DetectionModel exactly as training will (same parse_model), with the data's class count.

    Raises whatever Ultralytics raises; callers decide whether that is a candidate fault or an input error.
    """
    from ultralytics.nn.tasks import DetectionModel

    load_arch_yaml(path)
    return DetectionModel(cfg=str(path), ch=3, nc=nc, verbose=verbose)


def check_arch_yaml(path: str | Path, nc: int | None = None) -> None:
    """Raise InputError (one line) when the YAML does not build: for the CLI, where the YAML is the user's input."""
    try:
        build_model(path, nc)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - parse_model raises anything from KeyError to RuntimeError
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InputError(
            f"architecture YAML {path} does not build ({type(e).__name__}: {first[:200]}): "
            "fix the layer list (modules, 'from' indices, arguments)"
        ) from None

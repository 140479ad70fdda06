"""Stock Ultralytics model configs written out as explicit, self-contained YAMLs (benchmarks and tests).

Only the requested scale is kept, so the file builds the same model whatever it is named (Ultralytics otherwise
guesses the scale from the file name and silently falls back to the first scale).
"""

from __future__ import annotations

from pathlib import Path

import yaml


def stock_yaml_dict(name: str) -> dict:
    """Model dict of a stock config such as 'yolo11n' or 'yolov8s' with only its own scale left in 'scales'."""
    from ultralytics.nn.tasks import yaml_model_load

    data = yaml_model_load(f"{name}.yaml")
    data.pop("yaml_file", None)
    scale = data.get("scale")
    if data.get("scales"):
        if scale not in data["scales"]:
            raise ValueError(f"{name}: no scale {scale!r} in {sorted(data['scales'])}")
        data["scales"] = {scale: data["scales"][scale]}
    return data


def write_stock_yaml(name: str, out_dir: str | Path, *, nc: int | None = None) -> Path:
    """Write ``out_dir/<name>.yaml`` for a stock config and return its path."""
    data = stock_yaml_dict(name)
    if nc is not None:
        data["nc"] = nc
    out = Path(out_dir) / f"{name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"# Ultralytics stock config '{name}', written out by detnas.evaluate.stock\n"
        + yaml.safe_dump(data, sort_keys=False)
    )
    return out

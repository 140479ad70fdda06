"""Cost without training: build the model from a genome and count its parameters and GFLOPs."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

from detnas.architecture import build_model
from detnas.genome import ArchGenome


@dataclass(frozen=True)
class Cost:
    """What a design costs before any training, at one input size; ``fused`` when counted as deployed
    (Conv+BN folded), which is what latency measures; unfused is what Ultralytics prints for a YAML."""

    params: int
    gflops: float | None  # None where thop cannot profile the model (it then still builds and may train)
    imgsz: int
    fused: bool = False

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def model_cost(model, *, imgsz: int = 640, fused: bool = False) -> Cost:
    """Parameters and GFLOPs (multiply-adds x 2, as Ultralytics reports them) of a built model.

    ``fused=True`` counts a fused copy (Conv+BN folded, RepConv merged): the network a deployment runs.
    """
    import torch
    from ultralytics.utils.torch_utils import get_flops

    if fused:
        model = copy.deepcopy(model).float().eval()
        with torch.no_grad():
            model = model.fuse(verbose=False)
    params = sum(p.numel() for p in model.parameters())
    gflops = get_flops(model, imgsz)  # 0.0 when profiling fails (for example a pool larger than its input)
    return Cost(params=params, gflops=round(gflops, 4) if gflops > 0 else None, imgsz=imgsz, fused=fused)


def genome_cost(genome: ArchGenome, *, imgsz: int = 640) -> Cost:
    return model_cost(build_model(genome).eval(), imgsz=imgsz)

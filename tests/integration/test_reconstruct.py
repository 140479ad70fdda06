"""Reconstruction of sliced layers: on real images, a sliced YOLO11n refitted to its parent's outputs is closer to
the parent than the plain slice, an unchanged network is left as it is, and the evaluator uses it."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from detnas.architecture import build_model
from detnas.designs import thinned
from detnas.inherit.candidate import inherit
from detnas.inherit.checkpoint import load_parent
from detnas.inherit.reconstruct import reconstruct
from detnas.inherit.transfer import transfer
from detnas.proxies.training_free import real_batches
from tests.helpers import shared_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def parent():
    return load_parent(shared_checkpoint("yolo11n.pt"))


@pytest.fixture(scope="module")
def batches(coco_mini):
    fit = real_batches(coco_mini, imgsz=256, batch=8, count=1, seed=0)[0]["img"]
    check = real_batches(coco_mini, imgsz=256, batch=4, count=1, seed=1)[0]["img"]
    return fit, check


def _detect_out(model, x):
    model.eval()
    with torch.no_grad():
        y = model(x)
    return y[0] if isinstance(y, list | tuple) else y


def _error(model, parent_model, x) -> float:
    a, b = _detect_out(model, x), _detect_out(parent_model, x)
    return float((a - b).norm() / b.norm())


def _p4_thinned(genome):
    """YOLO11n with its P4 stage 0.75 wide: one sliced stage, the rest copied."""
    stages = list(genome.backbone.stages)
    stages[2] = dataclasses.replace(
        stages[2], down_channels=96, block=dataclasses.replace(stages[2].block, channels=96)
    )
    return dataclasses.replace(genome, backbone=dataclasses.replace(genome.backbone, stages=tuple(stages)))


def test_reconstruction_brings_a_slice_closer_to_its_parent(parent, batches):
    fit, check = batches
    child_genome = _p4_thinned(parent.genome)
    torch.manual_seed(0)
    sliced = build_model(child_genome, nc=80)
    tally = transfer(sliced, child_genome, parent.model, parent.genome)
    refitted = copy.deepcopy(sliced)
    pairs = [dataclasses.replace(p, child=dict(refitted.named_modules())[_name(sliced, p.child)]) for p in tally.pairs]
    report = reconstruct(refitted, parent.model, pairs, fit)
    assert report.layers > 20
    assert report.error_after < report.error_before
    before, after = _error(sliced, parent.model, check), _error(refitted, parent.model, check)
    # on images the fit never saw
    assert after < 0.8 * before, (before, after)


def _name(model, module) -> str:
    return next(n for n, m in model.named_modules() if m is module)


def test_unchanged_network_is_not_touched(parent, batches):
    fit, _ = batches
    model, inheritance = inherit(parent.genome, [parent], nc=80, images=lambda: fit)
    assert inheritance.reconstruction is None  # nothing sliced: the copy is the parent
    a, b = model.state_dict(), parent.model.state_dict()
    assert all(torch.equal(a[k].float(), b[k].float()) for k in a)


def test_inherit_reconstructs_thinned_yolo11n(parent, batches):
    fit, check = batches
    slim = thinned(parent.genome, width=0.75)
    plain, _ = inherit(slim, [parent], nc=80)
    model, inheritance = inherit(slim, [parent], nc=80, images=lambda: fit)
    assert inheritance.reconstruction is not None and inheritance.reconstruction["layers"] > 50
    assert _error(model, parent.model, check) < _error(plain, parent.model, check)

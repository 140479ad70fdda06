"""Each proxy reads its score off the worker's measurements by its own rule, and records every measured figure
under the names evaluation records have always used (``ProxyScore.details``)."""

from __future__ import annotations

import pytest

from detnas.proxies import PROXIES, Measurements, Score, get_proxy, training_speed_estimate
from detnas.proxies.val_loss import ValidationLoss

# Every measured value differs from the others, so a rule that reads the wrong one fails.
EPOCHS = (3.0, 2.0)  # total training loss per epoch: training-speed estimate -2.5
LOSS = ValidationLoss(box=1.25, cls=2.0, dfl=0.5, images=4)  # total 3.75
MAP = 0.3125
FREE = 17.5
INHERITED = {"inherited_fraction": 0.875, "parent": "yolo11n.pt"}

TRAINED = Measurements(epoch_losses=EPOCHS, map50_95=MAP, val_loss=LOSS)
TRAINED_FROM_PARENT = Measurements(epoch_losses=EPOCHS, map50_95=MAP, val_loss=LOSS, **INHERITED)
TRAINING_FREE = Measurements(training_free=FREE, free_batches=4, free_batch=8)

ALL_TRAINED = {"tse": -2.5, "map50_95": MAP, "val_loss": 3.75, "val_box": 1.25, "val_cls": 2.0, "val_dfl": 0.5}

# proxy -> (what the worker measured for it, the score it must read, the details it must record)
EXPECTED = {
    "map": (TRAINED, MAP, ALL_TRAINED),
    "val-loss": (TRAINED, -3.75, ALL_TRAINED),
    "tse": (TRAINED, -2.5, ALL_TRAINED),
    "params": (TRAINING_FREE, FREE, {"batches": 4, "batch": 8}),
    "synflow": (TRAINING_FREE, FREE, {"batches": 4, "batch": 8}),
    "zico": (TRAINING_FREE, FREE, {"batches": 4, "batch": 8}),
    "entropy": (TRAINING_FREE, FREE, {"batches": 4, "batch": 8}),
    "inherit": (TRAINED_FROM_PARENT, -3.75, ALL_TRAINED | INHERITED),
    "pretrained": (TRAINED_FROM_PARENT, MAP, ALL_TRAINED | INHERITED),
    "pretrained-zero": (Measurements(map50_95=MAP, **INHERITED), MAP, {"map50_95": MAP} | INHERITED),
}


def test_every_proxy_has_an_expected_score() -> None:
    assert set(EXPECTED) == set(PROXIES)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_proxy_scores_its_measurements(name: str) -> None:
    measurements, score, details = EXPECTED[name]
    assert get_proxy(name).score(measurements) == Score(score, details)


def test_worker_measures_only_what_the_proxy_needs() -> None:
    """What the worker measures follows from the flags; the scores above rely on these being measured."""
    reads_map = {n for n, p in PROXIES.items() if p.needs_map}
    reads_loss = {n for n, p in PROXIES.items() if p.needs_val_loss}
    assert reads_map == {"map", "pretrained", "pretrained-zero"}
    assert reads_loss == {"val-loss", "inherit"}
    assert {n for n, p in PROXIES.items() if p.inherits} == {"inherit", "pretrained", "pretrained-zero"}
    assert {n for n, p in PROXIES.items() if not p.trains} == {
        "params",
        "synflow",
        "zico",
        "entropy",
        "pretrained-zero",
    }


def test_a_brief_training_records_only_what_was_measured() -> None:
    """The tse proxy neither validates nor computes a validation loss: its details hold the estimate alone."""
    assert get_proxy("tse").score(Measurements(epoch_losses=(4.0,))) == Score(-4.0, {"tse": -4.0})
    measured_map = get_proxy("val-loss").score(Measurements(epoch_losses=(4.0,), val_loss=LOSS))
    assert "map50_95" not in measured_map.details and measured_map.value == -3.75


@pytest.mark.parametrize(
    ("name", "what"),
    [("map", "mAP50-95"), ("val-loss", "validation loss"), ("tse", "training losses"), ("zico", "training-free")],
)
def test_a_missing_measurement_names_the_proxy(name: str, what: str) -> None:
    with pytest.raises(ValueError, match=f"proxy '{name}' is scored by .*{what}.*did not measure"):
        get_proxy(name).score(Measurements())


def test_training_speed_estimate_needs_an_epoch() -> None:
    assert training_speed_estimate([1.0, 2.0, 6.0]) == -3.0
    with pytest.raises(ValueError, match="no training epochs"):
        get_proxy("map").score(Measurements(epoch_losses=(), map50_95=MAP))

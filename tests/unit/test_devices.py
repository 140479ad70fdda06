"""Device strings as the CLI takes them become torch devices: a GPU search once failed every candidate's latency
phase on ``torch.device('0')`` after training and validating it."""

from __future__ import annotations

import pytest
import torch

from detnas.devices import torch_device


@pytest.mark.parametrize(
    ("given", "expected"),
    [("cpu", "cpu"), ("", "cpu"), ("CPU", "cpu"), ("0", "cuda:0"), ("1", "cuda:1"), ("0,1", "cuda:0"),
     (" 2 , 3", "cuda:2"), ("cuda:1", "cuda:1"), ("mps", "mps")],
)  # fmt: skip
def test_cli_device_is_a_torch_device(given: str, expected: str) -> None:
    assert torch_device(given) == expected
    torch.device(torch_device(given))  # parses (creating a device object needs no GPU)

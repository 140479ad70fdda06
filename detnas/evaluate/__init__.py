"""Candidate evaluation: proxy training, mAP, latency and cost of one architecture YAML, as one JSON record.

The search calls :func:`evaluate_candidate`; everything else is public for tests, benchmarks and tools.
"""

from detnas.architecture import arch_sha256, build_model, check_arch_yaml, load_arch_yaml
from detnas.errors import EvaluateError, InputError

from .candidate import evaluate_candidate
from .data import PreparedData, load_data_yaml, prepare_data, select_subset
from .latency import LatencyCache, cache_key, measure_latency
from .recipe import Recipe
from .record import Cost, EpochLosses, Evaluation, LatencyRecord, Metrics

__all__ = [
    "Cost",
    "EpochLosses",
    "EvaluateError",
    "Evaluation",
    "InputError",
    "LatencyCache",
    "LatencyRecord",
    "Metrics",
    "PreparedData",
    "Recipe",
    "arch_sha256",
    "build_model",
    "cache_key",
    "check_arch_yaml",
    "evaluate_candidate",
    "load_arch_yaml",
    "load_data_yaml",
    "measure_latency",
    "prepare_data",
    "select_subset",
]

"""Errors raised by candidate evaluation.

Only caller mistakes raise (bad data YAML, unreadable image, malformed label, missing or unbuildable architecture file
given to the CLI). Faults of the candidate itself (crash, NaN loss, hang, OOM kill) never raise: they come back as a
failed :class:`~detnas.evaluate.record.Evaluation` so that a search keeps going.
"""

from __future__ import annotations


class EvaluateError(Exception):
    """Base class of every error detnas.evaluate raises on purpose."""


class InputError(EvaluateError, ValueError):
    """Bad input: the message is one line that names the file and says how to fix it."""

"""Errors that reach the user as one line (the CLI prints them without a traceback).

Only caller mistakes raise :class:`InputError` (bad data YAML, unreadable image, malformed label, missing or
unbuildable architecture file). Faults of a candidate itself (crash, NaN loss, hang, OOM kill) never raise: they come
back as a failed evaluation record so that a search keeps going.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SearchError(RuntimeError):
    """A search that cannot go on; the message says why and what to do."""


class EvaluateError(Exception):
    """Base class of every error detnas.evaluate raises on purpose."""


class InputError(EvaluateError, ValueError):
    """Bad input: the message is one line that names the file and says how to fix it."""


def read_yaml_file(path: Path, what: str, missing_fix: str) -> Any:
    """Parse a YAML file the user named; a missing file or bad syntax is one InputError line naming the file."""
    import yaml

    if not path.is_file():
        raise InputError(f"{what} {path} does not exist: {missing_fix}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{what} {path} is not valid YAML{where}: fix its syntax") from None

"""Errors that reach the user as one line (the CLI prints them without a traceback)."""


class SearchError(RuntimeError):
    """A search that cannot go on; the message says why and what to do."""

"""Errors a user can act on. The CLI prints their message as one line and exits 1."""


class GerecError(Exception):
    """Base class: the message says what is wrong and, where it can, what to change."""


class DataError(GerecError):
    """Bad or missing input data (names the file and, where it applies, the line)."""


class EvaluationError(GerecError):
    """A model produced scores that cannot be ranked honestly (NaN, infinite)."""

"""HTTP helpers shared by the explorer's routes: the one-line API error and validators."""

from __future__ import annotations

BINARY = "application/octet-stream"


class ApiError(Exception):
    """A bad request, answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``, else a 400 naming them."""
    if value not in choices:
        raise ApiError(
            400,
            f"query parameter {name!r} is {value!r}: expected one of "
            f"{', '.join(repr(c) for c in choices)}",
        )
    return value


def in_range(name: str, value: int, lo: int, hi: int) -> int:
    """``value`` when ``lo <= value <= hi``, else a 400 naming the range."""
    if not lo <= value <= hi:
        raise ApiError(400, f"query parameter {name!r} is {value}: expected {lo}..{hi}")
    return value

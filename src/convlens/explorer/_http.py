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


MAX_IMAGES = 10_000
"""Most distinct images one request may name (a selection's average, say)."""

MAX_REPLY_BYTES = 1 << 30
"""Most memory one request may make the server allocate for its reply."""


def image_rows(rows: list[int], n_images: int) -> list[int]:
    """The distinct probe rows a request names, checked before anything is allocated:
    at least one, each in ``0..n_images - 1``, at most :data:`MAX_IMAGES` distinct."""
    if not rows:
        raise ApiError(400, "'rows' is empty: expected at least one image row")
    unique = list(dict.fromkeys(rows))  # distinct, in the order given
    if len(unique) > MAX_IMAGES:
        raise ApiError(
            413,
            f"a selection of {len(unique):,} images is above the {MAX_IMAGES:,} whose feature "
            "maps the explorer computes on request; select fewer images (the probe's class "
            "means cover whole classes)",
        )
    bad = [r for r in unique if not 0 <= r < n_images]
    if bad:
        raise ApiError(
            400,
            f"'rows' holds {len(bad)} row(s) outside 0..{n_images - 1} "
            f"(first: {bad[0]}); rows are probe rows, not dataset indices",
        )
    return sorted(unique)


def check_reply_bytes(needed: int, what: str) -> None:
    """A 413 when a reply would need more than :data:`MAX_REPLY_BYTES` of memory."""
    if needed > MAX_REPLY_BYTES:
        raise ApiError(
            413,
            f"{what} would need {needed / 2**30:.1f} GiB of memory, over the server's limit "
            f"of {MAX_REPLY_BYTES / 2**30:.0f} GiB; ask for fewer images or layers",
        )

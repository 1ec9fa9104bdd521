"""When to snapshot weights: a roughly logarithmic schedule, as in Zeiler & Fergus."""

from __future__ import annotations


def log_schedule(last: int | None = None, limit: int = 10**12) -> list[int]:
    """Steps 1, 2, 5, 10, 20, 50, ... below ``last``, then ``last`` itself.

    Without ``last`` the series runs up to ``limit``.

    >>> log_schedule(130)
    [1, 2, 5, 10, 20, 50, 100, 130]
    """
    end = limit if last is None else last
    steps: list[int] = []
    decade = 1
    while decade < end:
        for m in (1, 2, 5):
            if m * decade < end:
                steps.append(m * decade)
        decade *= 10
    if last is not None and last >= 1:
        steps.append(last)
    return steps

"""The dashboard's bad-request errors, each with the HTTP status it answers with."""

from __future__ import annotations

from ...errors import ConvlensError


class DashboardError(ConvlensError):
    """A bad dashboard request or argument (HTTP 400), one line as every convlens error."""

    status = 400


class DashboardNotFound(DashboardError):
    """A run, tag, parameter or checkpoint the dashboard does not serve (HTTP 404)."""

    status = 404

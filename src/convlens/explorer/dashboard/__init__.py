"""The training dashboard: curves, weight/gradient distributions and weight heatmaps
of one or more runs, followed live while they train.

- :func:`make_router`: the FastAPI router (``app.include_router(make_router(runs))``).
- :func:`serve_dashboard` / :class:`DashboardServer`: the dashboard served alone.
- Data shaping, usable without a server: :func:`ema_smooth`,
  :func:`minmax_downsample`, :func:`percentile_bands`, :func:`ridgeline`,
  :func:`rebin`, :func:`weight_image`, :func:`weight_heatmaps`.
"""

from .distributions import Bands, Ridgeline, percentile_bands, rebin, ridgeline
from .errors import DashboardError, DashboardNotFound
from .heatmaps import Heatmaps, weight_heatmaps, weight_image
from .routes import make_router
from .series import Downsampled, Smoothed, ema_smooth, minmax_downsample
from .server import DashboardServer, create_dashboard_app, serve_dashboard
from .sources import RunSource, open_sources

__all__ = [
    "Bands",
    "DashboardError",
    "DashboardNotFound",
    "DashboardServer",
    "Downsampled",
    "Heatmaps",
    "Ridgeline",
    "RunSource",
    "Smoothed",
    "create_dashboard_app",
    "ema_smooth",
    "make_router",
    "minmax_downsample",
    "open_sources",
    "percentile_bands",
    "rebin",
    "ridgeline",
    "serve_dashboard",
    "weight_heatmaps",
    "weight_image",
]

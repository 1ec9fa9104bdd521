"""Tensors to pictures: grids, PNG files, heatmaps and channel reductions.

- grids and files: :func:`grid`, :func:`save_png`, :func:`png_bytes`, :func:`as_rgb`,
  :func:`upscale`;
- colours: :func:`heatmap` (unsigned), :func:`diverging` (signed), :func:`overlay`;
- many channels: :func:`reduce_channels` (norm / absmax to grey), :func:`pca_rgb`
  (first three principal components to RGB), :func:`to_grey`;
- attribution figures: :func:`attribution_image`, :func:`method_grid`;
- weights: :func:`weight_image` (any parameter as one 2-D picture), :func:`weight_layout`,
  :func:`block_mean`, :func:`weight_figure` (a captioned heatmap).
"""

from .colormap import diverging, heatmap, overlay
from .figure import attribution_image, method_grid
from .grid import as_rgb, grid, png_bytes, save_png, upscale
from .reduce import pca_rgb, principal_components, reduce_channels, to_grey
from .weights import block_mean, weight_figure, weight_image, weight_layout

__all__ = [
    "as_rgb",
    "attribution_image",
    "block_mean",
    "diverging",
    "grid",
    "heatmap",
    "method_grid",
    "overlay",
    "pca_rgb",
    "png_bytes",
    "principal_components",
    "reduce_channels",
    "save_png",
    "to_grey",
    "upscale",
    "weight_figure",
    "weight_image",
    "weight_layout",
]

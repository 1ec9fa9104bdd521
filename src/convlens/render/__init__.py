"""Tensors to pictures: grids, PNG files, heatmaps and channel reductions."""

from .grid import as_rgb, grid, png_bytes, save_png, upscale

__all__ = ["as_rgb", "grid", "png_bytes", "save_png", "upscale"]

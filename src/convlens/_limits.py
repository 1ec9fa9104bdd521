"""Limits shared by the rooms that read, make or draw images (no imports: any room may use it)."""

MAX_PIXELS = 64_000_000
"""The most pixels (W x H) of one image convlens decodes, synthesises or draws: 8,000 x 8,000.
Larger inputs are refused in one line before anything is allocated."""

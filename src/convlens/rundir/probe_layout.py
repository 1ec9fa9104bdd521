"""The probe store's layout: where each array lives, its dimension names and what it holds.

One probe of one checkpoint is ``RUN/probe/<checkpoint>/``, a Zarr v3 group::

    manifest.json                config, per-layer storage, "complete" arrays, "finished"
    partial.bin                  the merged summary of rows [0, rows): resume and shard merge
    outputs/                     image (image,) dataset index; label (image,);
                                 logits (image, output) float32; prediction (image,)
    embeddings/<layer>/          one xarray Dataset per probed layer:
        activation               (image, channel, y, x) or (image, channel)   every point
                                 (point, channel)                             a sample
        image                    (image,) or (point,) dataset index (coordinate)
        y, x                     (point,) feature-map position of each point (coordinates)
        pca                      (image, component, y, x) / (point, component) / ...
        pca_mean, pca_components (channel,), (component, channel): pca = (a - mean) @ comp.T
        umap, tsne               (..., axis) on request
    summary/<layer>/             exact over every position of every image:
        range                    (channel, bound) min and max
        mean                     (image, channel) mean over positions (spatial layers)
        topk_value, topk_image   (channel, rank) value, dataset index; best first
        topk_position            (channel, rank, axis) (y, x); topk_box (channel, rank, side)
        class_mean               (class, channel) mean over the class's images and positions
    classes/                     count (class,); confusion (label, prediction);
                                 input_mean (class, c, y, x) pixels 0..1

Every array has ``dimension_names`` and attributes (``layer``, ``units``,
``description``; a sampled layer's ``activation`` names its coordinates), so
``xarray.open_zarr(store, group=f"embeddings/{layer}")`` opens a layer as a Dataset.
Layer names are path parts with ``/`` replaced by ``|``.

Example::

    array_path("conv1", "activation")   # 'embeddings/conv1/activation'
"""

from __future__ import annotations

FORMAT = "convlens-probe/2"
MANIFEST = "manifest.json"
PARTIAL = "partial.bin"
PROBE_DIR = "probe"

EMBEDDINGS = "embeddings"
SUMMARY = "summary"
OUTPUTS = "outputs"
CLASSES = "classes"

__all__ = [
    "CLASSES",
    "EMBEDDINGS",
    "FORMAT",
    "MANIFEST",
    "OUTPUTS",
    "PARTIAL",
    "PROBE_DIR",
    "SUMMARY",
    "array_path",
    "layer_key",
    "summary_path",
]


def layer_key(name: str) -> str:
    """A layer name as one path part (dots kept, slashes replaced)."""
    return name.replace("/", "|") or "<root>"


def array_path(layer: str, name: str) -> str:
    """The path of array ``name`` in the embedding group of ``layer``."""
    return f"{EMBEDDINGS}/{layer_key(layer)}/{name}"


def summary_path(layer: str, name: str) -> str:
    """The path of array ``name`` in the summary group of ``layer``."""
    return f"{SUMMARY}/{layer_key(layer)}/{name}"

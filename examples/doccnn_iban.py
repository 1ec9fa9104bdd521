"""Guided backprop of the IBAN item on a synthetic invoice (seed 000), as one labelled figure.

    .venv/bin/python examples/doccnn_iban.py [OUT_DIR]

Trains doccnn first if OUT_DIR/doccnn.safetensors is missing (examples/doccnn_train.py).
The target is seed 000's "IBAN item": the sum of the IBAN field's logits over the
cells of the invoice's IBAN line, a callable on the model's structured output.
Writes OUT_DIR/iban_figure.png and its JSON sidecar iban_figure.json: four panels, each
one row per document line (numbered) and one column per token position:

- the input as the model sees it: the word embeddings by their first three principal
  components as colour, each cell's word written in it, each line's field on the right;
- guided backprop of the IBAN item, L2 norm over the 100 embedding channels;
- the same map by its first three principal components as colour;
- the plain gradient (saliency), for comparison (noisier).

The IBAN line is outlined in every panel (the legend says so), and the line with the
most guided-backprop mass is marked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from safetensors.torch import load_file

from convlens import zoo
from convlens.attribute import guided_backprop, saliency
from convlens.probe.figures import save_figure
from convlens.render import principal_components, reduce_channels
from convlens.zoo.doccnn import FIELDS, field_item, synthetic_invoices

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from doccnn_train import main as train_main  # noqa: E402

FIELD_COLOURS = {"address": "#2ca02c", "iban": "#d62728", "vat_id": "#9467bd", "other": "#7f7f7f"}


def pca_picture(maps: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(C, L, T) -> (L, T, 3) floats: hue from the first three principal components, and
    brightness from the length of the projection against its 95th percentile (empty
    cells black), so that the view is not dark when one cell dominates."""
    proj = np.einsum("clt,kc->ltk", maps, basis)
    length = np.sqrt((proj**2).sum(-1, keepdims=True))
    filled = length[length > 0]
    top = np.percentile(filled, 95) if filled.size else 1.0
    hue = 0.5 + 0.5 * proj / np.where(length > 0, length, 1)
    return np.clip(hue * np.clip(length / top, 0, 1) ** 0.5, 0, 1)


def main(out: Path = HERE / "out") -> list[Path]:
    weights = out / "doccnn.safetensors"
    if not weights.exists():
        train_main(out)
    model = zoo.create("doccnn")
    model.load_state_dict(load_file(str(weights)))
    model.eval()

    invoice = synthetic_invoices(1, seed=7)
    x = invoice.inputs
    line_fields = [FIELDS[int(k)] for k in invoice.line_labels[0]]
    iban_line = line_fields.index("iban")
    cells = invoice.labels == FIELDS.index("iban")  # (1, L, T): the IBAN line's cells
    target = field_item("iban", cells)

    guided = guided_backprop(model, x, target).detach().numpy()[0]  # (100, L, T)
    plain = saliency(model, x, target).detach().numpy()[0]
    inputs = x.numpy()[0]
    words = invoice.words[0]
    strength = reduce_channels(guided[None], "norm")[0]  # (L, T)
    mass = strength.sum(1)
    strongest = int(mass.argmax())
    lines, tokens = strength.shape

    fig = Figure(figsize=(13.0, 12.5))
    axes = fig.subplots(2, 2).ravel()
    panels = [
        ("input: word embeddings, first 3 principal components as colour", None),
        ("guided backprop of the IBAN item: L2 norm over the 100 embedding channels", strength),
        ("guided backprop of the IBAN item: first 3 principal components as colour", None),
        (
            "saliency (plain gradient): L2 norm over the 100 embedding channels",
            reduce_channels(plain[None], "norm")[0],
        ),
    ]
    pictures = [
        pca_picture(inputs, principal_components(inputs[None])),
        None,
        pca_picture(guided, principal_components(guided[None])),
        None,
    ]
    for ax, (title, values), picture in zip(axes, panels, pictures, strict=True):
        if picture is not None:
            ax.imshow(picture, aspect=0.5, interpolation="nearest")
        else:
            image = ax.imshow(values, aspect=0.5, interpolation="nearest", cmap="magma")
            fig.colorbar(image, ax=ax, fraction=0.04, pad=0.1, label="attribution (L2 norm)")
        ax.set_title(title, fontsize=9)
        ax.set_yticks(range(lines))
        ax.set_yticklabels([str(i) for i in range(lines)], fontsize=6)
        ax.set_xticks(range(tokens))
        ax.set_xticklabels([str(j) for j in range(tokens)], fontsize=6)
        ax.set_ylabel("document line")
        ax.set_xlabel("token position")
        ax.add_patch(
            Rectangle((-0.5, iban_line - 0.5), tokens, 1, fill=False, ec="#00e5ff", lw=1.6)
        )
        for i, field in enumerate(line_fields):  # each line's field, at the right edge
            if values is strength and i == strongest:
                field = f"{field} ← most mass"
            if words[i] and any(words[i]):
                ax.text(
                    tokens - 0.3,
                    i,
                    field,
                    fontsize=5.5,
                    va="center",
                    color=FIELD_COLOURS[field.split(" ")[0]],
                    clip_on=False,
                )
    for i, row in enumerate(words):  # the words of the invoice, in the input panel
        for j, word in enumerate(row[:tokens]):
            if word:
                axes[0].text(j, i, word[:9], fontsize=4.5, ha="center", va="center", color="white")
    legend = [
        Rectangle(
            (0, 0),
            1,
            1,
            fill=False,
            ec="#00e5ff",
            lw=1.6,
            label=f"IBAN line ({iban_line}): the target",
        )
    ]
    legend += [Patch(color=c, label=f"line field: {name}") for name, c in FIELD_COLOURS.items()]
    fig.legend(handles=legend, loc="upper center", ncol=5, fontsize=8, bbox_to_anchor=(0.5, 0.945))
    fig.suptitle(
        "doccnn on a synthetic invoice (seed 000): what the IBAN item depends on\n"
        "target: sum of the IBAN field's logits over the IBAN line's cells",
        fontsize=10,
    )
    fig.subplots_adjust(top=0.89, bottom=0.05, hspace=0.22, wspace=0.3, left=0.07, right=0.95)
    record = {
        "figure": "doccnn IBAN item",
        "model": "doccnn",
        "weights": str(weights),
        "invoice": {"seed": 7, "lines": lines, "tokens": tokens},
        "target": "sum of the 'iban' logits over the cells of the IBAN line",
        "iban_line": iban_line,
        "iban_words": [w for w in words[iban_line] if w],
        "line_fields": line_fields,
        "guided_mass_per_line": [float(v) for v in mass],
        "strongest_line": strongest,
        "panels": [title for title, _ in panels],
    }
    path = save_figure(fig, out / "iban_figure.png", record)
    print(f"IBAN on line {iban_line}: {' '.join(w for w in words[iban_line] if w)}")
    print(f"line with most guided-backprop mass: {strongest}")
    print(f"wrote {path} and {path.with_suffix('.json').name}")
    return [path]


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "out")

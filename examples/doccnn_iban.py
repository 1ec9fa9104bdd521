"""Guided backprop of the IBAN item on a synthetic invoice (seed 000), by norm and by PCA.

    .venv/bin/python examples/doccnn_iban.py [OUT_DIR]

Trains doccnn first if OUT_DIR/doccnn.safetensors is missing (examples/doccnn_train.py).
The target is seed 000's "IBAN item": the sum of the IBAN field's logits over the
cells of the invoice's IBAN line, a callable on the model's structured output.
Writes, each one row per document line and one column per token position:

- invoice_pca.png     the input as the model sees it (embeddings, PCA to RGB);
- iban_guided_norm.png   guided backprop, L2 norm over the 100 channels, grey;
- iban_guided_pca.png    guided backprop, first three principal components, RGB;
- iban_saliency_norm.png the plain gradient, for comparison (noisier).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from convlens import zoo
from convlens.attribute import guided_backprop, saliency
from convlens.render import as_rgb, pca_rgb, reduce_channels, save_png, to_grey, upscale
from convlens.zoo.doccnn import FIELDS, field_item, synthetic_invoices

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from doccnn_train import main as train_main  # noqa: E402


def picture(rgb: np.ndarray) -> np.ndarray:
    """(L, T, 3) -> cells drawn 12 px tall and 24 px wide, like text on a page."""
    return np.repeat(upscale(rgb, 12), 2, axis=1)


def main(out: Path = HERE / "out") -> list[Path]:
    weights = out / "doccnn.safetensors"
    if not weights.exists():
        train_main(out)
    model = zoo.create("doccnn")
    model.load_state_dict(load_file(str(weights)))
    model.eval()

    invoice = synthetic_invoices(1, seed=7)
    x = invoice.inputs
    iban_line = int((invoice.line_labels[0] == FIELDS.index("iban")).nonzero()[0])
    cells = invoice.labels == FIELDS.index("iban")  # (1, L, T): the IBAN line's cells
    target = field_item("iban", cells)

    guided = guided_backprop(model, x, target)
    plain = saliency(model, x, target)
    files = {
        "invoice_pca.png": pca_rgb(x)[0],
        "iban_guided_norm.png": as_rgb(to_grey(reduce_channels(guided, "norm")))[0],
        "iban_guided_pca.png": pca_rgb(guided)[0],
        "iban_saliency_norm.png": as_rgb(to_grey(reduce_channels(plain, "norm")))[0],
    }
    written = [save_png(out / name, picture(img)) for name, img in files.items()]
    strength = reduce_channels(guided, "norm")[0].sum(1)
    print(f"IBAN on line {iban_line}: {' '.join(w for w in invoice.words[0][iban_line] if w)}")
    print(f"line with most guided-backprop mass: {int(strength.argmax())}")
    for path in written:
        print(f"wrote {path}")
    return written


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "out")

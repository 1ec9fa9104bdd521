"""The doccnn zoo model, its synthetic invoices and the "IBAN item" target."""

from __future__ import annotations

import torch

from convlens import zoo
from convlens.attribute import guided_backprop, saliency
from convlens.zoo.doccnn import FIELDS, field_item, synthetic_invoices


def test_invoices_are_deterministic_and_labelled() -> None:
    a, b, c = synthetic_invoices(3, seed=4), synthetic_invoices(3, seed=4), synthetic_invoices(3)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.inputs, c.inputs)
    filled = a.inputs.abs().sum(1) > 0
    for i in range(3):
        kinds = a.line_labels[i].tolist()
        assert kinds.count(FIELDS.index("iban")) == 1
        assert kinds.count(FIELDS.index("vat_id")) == 1
        iban = kinds.index(FIELDS.index("iban"))
        words = [w for w in a.words[i][iban] if w]
        assert words[0] in ("iban", "konto", "bank") and words[1].startswith("DE")
        assert len(words[1]) == 4 and all(len(w) == 4 for w in words[2:6])
        for r, kind in enumerate(kinds):
            cells = a.labels[i, r][filled[i, r]]
            assert (cells == kind).all()
            assert len(cells) == sum(1 for w in a.words[i][r] if w)
    assert (a.labels[~filled] == FIELDS.index("other")).all()


def test_iban_item_target_on_structured_output() -> None:
    torch.manual_seed(0)
    model = zoo.create("doccnn").eval()
    inv = synthetic_invoices(2, seed=2)
    cells = inv.labels == FIELDS.index("iban")
    assert model(inv.inputs).shape == (2, 4, 24, 12)
    item = saliency(model, inv.inputs, field_item("iban", cells))
    # the gradient is linear in the target: the item equals the sum over its cells
    want = torch.zeros_like(item)
    for n, r, t in cells.nonzero().tolist():
        one = saliency(model, inv.inputs[n : n + 1], (FIELDS.index("iban"), r, t))
        want[n] += one[0]
    torch.testing.assert_close(item, want, rtol=1e-4, atol=1e-7)
    guided = guided_backprop(model, inv.inputs, field_item("iban", cells))
    assert guided.shape == inv.inputs.shape and not torch.allclose(guided, item)

"""A document CNN over a grid of word embeddings, and synthetic invoices to train it.

Seed 000 (Hypatos) feeds a document to a CNN as a grid: lines x token positions,
each cell a 100-dimensional word embedding, and reads out which field (address,
IBAN, VAT id) each cell belongs to.

- :class:`DocCNN`: input (N, 100, lines, tokens), output (N, 4, lines, tokens):
  one logit per field (:data:`FIELDS`) for every cell. Fully convolutional, with
  wide kernels along the line so a cell sees its whole line and its neighbours.
- :func:`synthetic_invoices`: deterministic, seeded invoices whose lines are
  labelled address, IBAN, VAT id or other, already embedded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FIELDS = ("address", "iban", "vat_id", "other")
EMBED_DIM = 100
LINES, TOKENS = 24, 12


class DocCNN(nn.Module):
    """Input (N, embed_dim, lines, tokens) word-embedding grid -> (N, fields, lines, tokens)."""

    def __init__(self, embed_dim: int = EMBED_DIM, fields: int = len(FIELDS), width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(embed_dim, width, (1, 3), padding=(0, 1))
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, (3, 5), padding=(1, 2))
        self.conv3 = nn.Conv2d(width, width, (3, 7), padding=(1, 6), dilation=(1, 2))
        self.head = nn.Conv2d(width, fields, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.head(torch.relu(self.conv3(x)))


# ----------------------------------------------------------------- invoices
_WORDS = [
    "rechnung",
    "invoice",
    "datum",
    "date",
    "kunde",
    "nr",
    "summe",
    "total",
    "netto",
    "brutto",
    "betrag",
    "menge",
    "artikel",
    "preis",
    "eur",
    "bank",
    "sparkasse",
    "volksbank",
    "commerzbank",
    "iban",
    "bic",
    "konto",
    "ust-idnr",
    "vat",
    "id",
    "steuer",
    "str.",
    "strasse",
    "weg",
    "platz",
    "allee",
    "gmbh",
    "ag",
    "firma",
    "herr",
    "frau",
    "berlin",
    "hamburg",
    "muenchen",
    "koeln",
    "leipzig",
    "bremen",
    "lieferung",
    "zahlbar",
    "tage",
    "danke",
    "service",
    "beratung",
    "versand",
    "rabatt",
    "seite",
]
_SHAPES = ("d", "dd", "ddd", "dddd", "ddddd", "DEdd", "DEddddddddd", "d,dd", "dd.dd.dddd", "XX")
VOCAB = (*_WORDS, *_SHAPES)


def embedding_table(dim: int = EMBED_DIM) -> np.ndarray:
    """(len(VOCAB), dim) float32 word vectors, fixed (seeded) for every caller."""
    rng = np.random.default_rng(20190125)
    table = rng.normal(size=(len(VOCAB), dim))
    return (table / np.linalg.norm(table, axis=1, keepdims=True)).astype(np.float32)


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(v) for v in rng.integers(0, 10, n))


def _line(kind: str, rng: np.random.Generator) -> list[str]:
    pick = lambda words: words[rng.integers(len(words))]  # noqa: E731
    if kind == "address":
        return [
            [pick(["herr", "frau", "firma"]), pick(["gmbh", "ag", "service"])],
            [
                pick(["berlin", "hamburg", "koeln"]) + pick(["str.", "strasse", "weg"]),
                _digits(rng, 2),
            ],
            [_digits(rng, 5), pick(["berlin", "hamburg", "muenchen", "koeln", "leipzig"])],
        ][rng.integers(3)]
    if kind == "iban":
        head = ["iban"] if rng.random() < 0.6 else [pick(["konto", "bank"])]
        return [
            *head,
            "DE" + _digits(rng, 2),
            *(_digits(rng, 4) for _ in range(4)),
            _digits(rng, 2),
        ]
    if kind == "vat_id":
        head = ["ust-idnr"] if rng.random() < 0.5 else ["vat", "id"]
        return [*head, "DE" + _digits(rng, 9)]
    return [
        ["rechnung", "nr", _digits(rng, 4), "datum", "12.03.2019"],
        [
            pick(["artikel", "service", "beratung", "versand"]),
            _digits(rng, 1),
            "preis",
            f"{_digits(rng, 1)},{_digits(rng, 2)}",
            "eur",
        ],
        [
            pick(["summe", "total", "netto", "brutto"]),
            f"{_digits(rng, 1)},{_digits(rng, 2)}",
            "eur",
        ],
        [pick(["sparkasse", "volksbank", "commerzbank"]), "bic", "XX"],
        ["zahlbar", _digits(rng, 2), "tage", "danke"],
        ["seite", _digits(rng, 1)],
    ][rng.integers(6)]


def token_id(word: str) -> int:
    """The vocabulary row of a word; numbers and codes map to their shape."""
    if word in _WORDS:
        return _WORDS.index(word)
    if any(ch.isalpha() for ch in word):
        for w in _WORDS:
            if word.startswith(w) or word.endswith(w):
                return _WORDS.index(w)
    shape = "".join("d" if ch.isdigit() else ch for ch in word)
    if shape.startswith("DE"):
        shape = "DEdd" if len(shape) == 4 else "DEddddddddd"
    if shape not in _SHAPES:
        shape = "dd.dd.dddd" if "." in shape else "d,dd" if "," in shape else "XX"
    return len(_WORDS) + _SHAPES.index(shape)


@dataclass
class Invoices:
    """``inputs`` (N, 100, L, T) float32, ``labels`` (N, L, T) int64 field per cell
    (empty cells "other"), ``line_labels`` (N, L), ``words`` per invoice, line, token."""

    inputs: torch.Tensor
    labels: torch.Tensor
    line_labels: torch.Tensor
    words: list[list[list[str]]]


def _layout(rng: np.random.Generator, lines: int) -> list[str]:
    kinds = ["address"] * int(rng.integers(2, 4)) + ["other"] * int(rng.integers(3, 7))
    footer = ["other", "iban", "vat_id"]
    rng.shuffle(footer)
    kinds += footer + ["other"] * int(rng.integers(0, 3))
    body = kinds[: lines - 1]
    gaps = sorted(rng.choice(lines, size=lines - len(body), replace=False).tolist())
    out, it = [], iter(body)
    for i in range(lines):
        out.append("" if i in gaps else next(it, ""))
    return out


def synthetic_invoices(
    n: int, seed: int = 0, lines: int = LINES, tokens: int = TOKENS, noise: float = 0.1
) -> Invoices:
    """``n`` invoices, the same for the same ``seed``: address lines at the top, items,
    totals and a footer with an IBAN line, a VAT id line and bank details.

    >>> inv = synthetic_invoices(2, seed=1)
    >>> tuple(inv.inputs.shape), tuple(inv.labels.shape)
    ((2, 100, 24, 12), (2, 24, 12))
    """
    rng = np.random.default_rng(seed)
    table = embedding_table()
    x = np.zeros((n, EMBED_DIM, lines, tokens), np.float32)
    labels = np.full((n, lines, tokens), FIELDS.index("other"), np.int64)
    line_labels = np.full((n, lines), FIELDS.index("other"), np.int64)
    words: list[list[list[str]]] = []
    for i in range(n):
        doc: list[list[str]] = []
        for r, kind in enumerate(_layout(rng, lines)):
            toks = _line(kind, rng)[:tokens] if kind else []
            start = int(rng.integers(0, tokens - len(toks) + 1)) if toks else 0
            for j, w in enumerate(toks):
                vec = table[token_id(w)] + noise * rng.normal(size=EMBED_DIM) / 10
                x[i, :, r, start + j] = vec
                labels[i, r, start + j] = FIELDS.index(kind)
            if kind:
                line_labels[i, r] = FIELDS.index(kind)
            doc.append([""] * start + toks + [""] * (tokens - start - len(toks)))
        words.append(doc)
    return Invoices(
        torch.from_numpy(x), torch.from_numpy(labels), torch.from_numpy(line_labels), words
    )


def field_item(field: str, cells: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A target: the sum of ``field``'s logits over ``cells`` (N, L, T) bool, per sample.

    This is seed 000's "IBAN item": ``guided_backprop(model, x, field_item("iban", mask))``.
    """
    k = FIELDS.index(field)

    def score(output: torch.Tensor) -> torch.Tensor:
        return (output[:, k] * cells.to(output.dtype)).flatten(1).sum(1)

    return score

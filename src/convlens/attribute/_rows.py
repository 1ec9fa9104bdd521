"""What each row of an attribution figure shows: its target and the model's prediction.

:func:`describe_rows` turns the model output on the clean inputs and the target
into one record per sample, for the figure's row labels and its JSON sidecar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ConvlensError
from ._targets import resolve_target

__all__ = ["describe_rows"]


def _name(k: int, classes: Sequence[str]) -> str:
    return f"{k} {classes[k]!r}" if 0 <= k < len(classes) and classes[k] != str(k) else str(k)


def _prediction(out: torch.Tensor, i: int, classes: Sequence[str], task: str) -> dict[str, Any]:
    row = out[i].float()
    if row.numel() == 1:
        return {"output": float(row.reshape(())), "text": f"output {float(row.reshape(())):.3g}"}
    if task == "embed" or out.ndim < 2:
        values = [round(float(v), 4) for v in row.flatten()[:4]]
        more = ", ..." if row.numel() > 4 else ""
        return {
            "output": values,
            "text": "output (" + ", ".join(f"{v:.2f}" for v in values) + more + ")",
        }
    sums = row.reshape(row.shape[0], -1).sum(1)
    k = int(sums.argmax())
    if out.ndim == 2:
        p = float(sums.softmax(0)[k])
        return {
            "class": k,
            "probability": round(p, 4),
            "text": f"predicted {_name(k, classes)} p={p:.2f}",
        }
    return {"class": k, "text": f"predicted {_name(k, classes)} (largest summed class map)"}


def _target(spec: Any, text: str, i: int, resolved: Any, classes: Sequence[str]) -> dict[str, Any]:
    if resolved is not None and resolved.kind == "class":
        k = int(resolved.classes[i])
        how = {"predicted": "predicted = ", "label": "label "}.get(text.strip(), "")
        return {"class": k, "text": f"target {how}{_name(k, classes)}"}
    if resolved is not None and resolved.kind == "index":
        index = tuple(int(v) for v in resolved.index[i])
        return {"index": list(index), "text": f"target output{index}"}
    return {"text": f"target {text}"}


def describe_rows(
    output: Any,
    n: int,
    text: str,
    spec: Any,
    labels: Any,
    classes: Sequence[str],
    task: str = "classify",
) -> list[dict[str, Any]]:
    """One record per sample: ``target`` and ``prediction`` (dicts with a ``text``),
    ``label`` when known, and ``text`` (the row's caption).

    ``output`` is the model output on the clean inputs, ``text`` the target as the
    user wrote it and ``spec`` as the library takes it.

    >>> out = torch.tensor([[0.1, 2.0], [3.0, 0.0]])
    >>> describe_rows(out, 2, "predicted", "predicted", None, ["cat", "dog"])[0]["text"]
    "target predicted = 1 'dog' | predicted 1 'dog' p=0.87"
    """
    if not isinstance(output, torch.Tensor):
        return [{"text": f"target {text}"} for _ in range(n)]
    try:
        resolved = resolve_target(spec, output, n) if not callable(spec) else None
    except ConvlensError:  # a caption never fails the figure (the methods raised already)
        resolved = None
    rows = []
    for i in range(n):
        target = _target(spec, text, i, resolved, classes)
        pred = _prediction(output, i, classes, task)
        row: dict[str, Any] = {"target": target, "prediction": pred}
        caption = f"{target['text']} | {pred['text']}"
        if labels is not None:
            row["label"] = int(labels[i])
            if text.strip() != "label":
                caption += f" | label {_name(int(labels[i]), classes)}"
        row["text"] = caption
        rows.append(row)
    return rows

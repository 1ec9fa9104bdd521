"""Faithfulness checks of attribution maps.

- :func:`deletion` and :func:`insertion` (Petsiuk et al. 2018): the area under the
  score curve as the most important pixels are removed from (or inserted into)
  the input, all (image, step) rows batched; :func:`perturbation_curve` gives the
  whole curves.
- :func:`randomisation` (Adebayo et al. 2018): cascading model-parameter
  randomisation, the Spearman rank correlation of maps per randomised layer.
"""

from ._deletion import Curve, deletion, insertion, perturbation_curve
from ._randomisation import Randomisation, randomisation

__all__ = ["Curve", "Randomisation", "deletion", "insertion", "perturbation_curve", "randomisation"]

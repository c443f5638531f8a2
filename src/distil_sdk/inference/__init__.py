"""Local inference: :class:`LocalClassifier` and its :class:`Prediction` results.

Importing this package is cheap; torch and transformers load on first use.
"""

from ._classifier import LocalClassifier, Prediction
from ._prompt import build_classification_messages

__all__ = ["LocalClassifier", "Prediction", "build_classification_messages"]

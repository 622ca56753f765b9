"""The trained prompt-attack classifier: logistic regression over hashed n-grams.

The weights ship as ``artifacts/injection_lr.npz`` (float16 weights, a float bias, the
decision threshold and metadata as plain arrays) and load with ``np.load(allow_pickle=False)``:
loading never runs code and the runtime needs numpy only, not scikit-learn.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from poise.errors import ConfigError
from poise.guard.injection.features import DIM, hashed_features

__all__ = ["ARTIFACT_DIR", "MODEL_FILE", "InjectionClassifier", "load_classifier"]

ARTIFACT_DIR = Path(__file__).parent / "artifacts"
MODEL_FILE = "injection_lr.npz"


@dataclass(frozen=True, eq=False)
class InjectionClassifier:
    """Scores a text in 0..1: the probability that it is a prompt attack."""

    weights: npt.NDArray[np.float32]
    bias: float
    threshold: float
    """System threshold chosen on the validation split (heuristics + classifier)."""
    meta: dict[str, str]

    def score(self, text: str) -> float:
        """Attack probability of one text (a message, a decoded segment, a document part)."""
        idx, vals = hashed_features(text)
        if idx.size == 0:
            return 0.0
        z = float(np.dot(self.weights[idx], vals)) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def save(self, path: Path) -> None:
        """Write the weights as a compressed ``.npz`` of plain arrays (no pickle)."""
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float16),
            bias=np.array([self.bias], dtype=np.float64),
            threshold=np.array([self.threshold], dtype=np.float64),
            meta=np.array(json.dumps(self.meta, sort_keys=True)),
        )


def load_classifier(path: Path | None = None) -> InjectionClassifier:
    """Load the shipped (or a given) classifier artifact; raises ConfigError if it is unusable."""
    path = path or ARTIFACT_DIR / MODEL_FILE
    return _load(str(path))


@lru_cache(maxsize=4)
def _load(path: str) -> InjectionClassifier:
    try:
        with np.load(path, allow_pickle=False) as data:
            weights = data["weights"].astype(np.float32)
            bias = float(data["bias"][0])
            threshold = float(data["threshold"][0])
            meta = json.loads(str(data["meta"]))
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the injection classifier: {exc}",
            path=path,
            expected="an .npz written by `python -m poise.guard.injection.train`",
        ) from exc
    if weights.shape != (DIM,):
        raise ConfigError(f"weights have shape {weights.shape}", path=path, expected=f"({DIM},)")
    return InjectionClassifier(weights=weights, bias=bias, threshold=threshold, meta=meta)

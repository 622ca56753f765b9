"""Input-side prompt-attack detection: injection, jailbreak, many-shot, extraction, indirect.

    from poise.guard.injection import InjectionDetector
    InjectionDetector().detect("Ignore all previous instructions").flagged   # True

Pipeline: :func:`poise.guard.normalize.normalize` -> multilingual rules (:mod:`.rules`) -> a
hashed n-gram logistic regression (:mod:`.classifier`, pure numpy at inference). Training and
evaluation live in :mod:`.train` and :mod:`.evaluate`; the artifact and its model card in
``artifacts/``.
"""

from poise.guard.injection.classifier import InjectionClassifier, load_classifier
from poise.guard.injection.detector import (
    InjectionDetector,
    ManyShotDetector,
    SystemPromptExtractionDetector,
)
from poise.guard.injection.indirect import IndirectInjectionDetector

__all__ = [
    "IndirectInjectionDetector",
    "InjectionClassifier",
    "InjectionDetector",
    "ManyShotDetector",
    "SystemPromptExtractionDetector",
    "load_classifier",
]

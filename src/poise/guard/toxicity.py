"""Toxicity and profanity detection with the offline model of ``alt-profanity-check``.

The model (a TF-IDF bag of words and five sigmoid-calibrated linear SVMs, trained on public
toxic-comment data) ships inside the ``alt-profanity-check`` package, so nothing is downloaded.
Scoring it through scikit-learn costs about 3 ms a call, mostly input validation, and importing
scikit-learn costs about a second, so :class:`ProfanityModel` unpickles the package's model
once, keeps only its arrays (vocabulary, IDF weights, SVM weights, calibration) and does the same
arithmetic in NumPy. The arrays are cached in ``$POISE_HOME/cache/`` keyed by the model files'
SHA-256, so later processes never import scikit-learn. ``tests/guard/test_toxicity.py`` checks the
scores match scikit-learn's ``predict_proba``.

A reply is scored sentence by sentence and the worst sentence counts, because one insult in a long
friendly answer is diluted to nothing when the whole text is one bag of words. The spans are the
words that alone score at or above the threshold.

Known limits (measured by ``bench/guard_toxicity.py``): the model knows words, not meaning. It
flags clinical anatomy terms ("penis", "anal fissure") as surely as insults and misses insults made
of clean words ("you are worthless") and obfuscated spellings ("f*ck"). English only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from poise.errors import OptionalDependencyError
from poise.guard.types import DetectionContext, DetectorResult, Finding, Span

__all__ = [
    "TOXICITY_THRESHOLD",
    "ProfanityModel",
    "ToxicityDetector",
    "UnavailableDetector",
    "load_profanity_model",
    "toxicity_detector",
]

TOXICITY_THRESHOLD = 0.95
"""Score at or above which a text counts as toxic (chosen with ``bench/guard_toxicity.py``)."""

_MODEL_FILES = ("vectorizer.joblib", "model.joblib")
_CACHE_VERSION = 1
_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?]*")
_log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ProfanityModel:
    """The profanity model's arrays, scored without scikit-learn.

    Attributes:
        vocabulary: term → column.
        idf: IDF weight of each column.
        coef: one row of SVM weights per calibrated fold (folds x columns).
        intercept: each fold's SVM intercept.
        slope / offset: each fold's sigmoid calibration, ``p = 1 / (1 + exp(slope * f + offset))``.
        word_scores: the probability of each column's word as a text on its own.
        warning: why the pickled model may not be trustworthy (a scikit-learn version mismatch).
    """

    vocabulary: dict[str, int]
    idf: FloatArray
    coef: FloatArray
    intercept: FloatArray
    slope: FloatArray
    offset: FloatArray
    token_pattern: str
    word_scores: FloatArray
    warning: str | None = None

    def score(self, text: str) -> float:
        """Probability that ``text`` is toxic or profane, as scikit-learn's ``predict_proba`` gives it."""
        counts: dict[int, int] = {}
        for token in re.findall(self.token_pattern, text.lower()):
            col = self.vocabulary.get(token)
            if col is not None:
                counts[col] = counts.get(col, 0) + 1
        if counts:
            cols = np.fromiter(counts, dtype=np.intp, count=len(counts))
            values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts)) * self.idf[cols]
            values /= np.sqrt(values @ values)
            decision = self.coef[:, cols] @ values + self.intercept
        else:
            decision = self.intercept.copy()
        return float(np.mean(1.0 / (1.0 + np.exp(self.slope * decision + self.offset))))

    def word_spans(self, text: str, threshold: float) -> list[Span]:
        """Spans of the words that alone score at least ``threshold``."""
        spans: list[Span] = []
        for m in re.finditer(self.token_pattern, text):
            col = self.vocabulary.get(m.group().lower())
            if col is not None and self.word_scores[col] >= threshold:
                spans.append(Span(m.start(), m.end(), "toxicity"))
        return spans


def _package_data_dir() -> Path:
    # find_spec does not run the package; importing it would unpickle the model with scikit-learn.
    spec = importlib.util.find_spec("profanity_check")
    if spec is None or not spec.submodule_search_locations:
        raise OptionalDependencyError("alt-profanity-check", "ml")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _cache_dir() -> Path:
    home = os.environ.get("POISE_HOME") or str(Path.home() / ".local" / "share" / "poise")
    return Path(home) / "cache"


def _digest(data_dir: Path) -> str:
    h = hashlib.sha256(f"v{_CACHE_VERSION}".encode())
    for name in _MODEL_FILES:
        h.update((data_dir / name).read_bytes())
    return h.hexdigest()[:24]


def _word_scores(
    coef: FloatArray, intercept: FloatArray, slope: FloatArray, offset: FloatArray
) -> FloatArray:
    # A one-word text's L2-normalised TF-IDF vector is 1.0 in that word's column.
    decision = coef + intercept[:, None]
    probs: FloatArray = np.mean(1.0 / (1.0 + np.exp(slope[:, None] * decision + offset[:, None])), axis=0)
    return probs


def _from_pickle(data_dir: Path) -> ProfanityModel:
    try:
        import joblib
    except ImportError as exc:
        raise OptionalDependencyError("alt-profanity-check", "ml") from exc
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectorizer = joblib.load(data_dir / "vectorizer.joblib")
        model = joblib.load(data_dir / "model.joblib")
    mismatch = [str(w.message) for w in caught if "version" in str(w.message).lower()]
    warning = mismatch[0] if mismatch else None
    if warning:
        _log.warning("the profanity model was pickled with another scikit-learn version: %s", warning)
    folds = model.calibrated_classifiers_
    coef = np.vstack([f.estimator.coef_[0] for f in folds]).astype(np.float64)
    intercept = np.array([f.estimator.intercept_[0] for f in folds], dtype=np.float64)
    slope = np.array([f.calibrators[0].a_ for f in folds], dtype=np.float64)
    offset = np.array([f.calibrators[0].b_ for f in folds], dtype=np.float64)
    vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
    return ProfanityModel(
        vocabulary=vocabulary,
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        coef=coef,
        intercept=intercept,
        slope=slope,
        offset=offset,
        token_pattern=str(vectorizer.token_pattern),
        word_scores=_word_scores(coef, intercept, slope, offset),
        warning=warning,
    )


def _save(model: ProfanityModel, path: Path) -> None:
    terms = np.empty(len(model.vocabulary), dtype=object)
    for term, col in model.vocabulary.items():
        terms[col] = term
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        terms=terms.astype(str),
        idf=model.idf,
        coef=model.coef,
        intercept=model.intercept,
        slope=model.slope,
        offset=model.offset,
        token_pattern=np.array(model.token_pattern),
    )
    tmp.replace(path)


def _load(path: Path) -> ProfanityModel:
    with np.load(path, allow_pickle=False) as z:
        coef, intercept, slope, offset = (
            z[k].astype(np.float64) for k in ("coef", "intercept", "slope", "offset")
        )
        return ProfanityModel(
            vocabulary={str(t): i for i, t in enumerate(z["terms"])},
            idf=z["idf"].astype(np.float64),
            coef=coef,
            intercept=intercept,
            slope=slope,
            offset=offset,
            token_pattern=str(z["token_pattern"]),
            word_scores=_word_scores(coef, intercept, slope, offset),
        )


_loaded: dict[str, ProfanityModel] = {}
_lock = threading.Lock()


def load_profanity_model(*, cache: bool = True) -> ProfanityModel:
    """The packaged profanity model (once per process; from the array cache when it is there).

    Raises:
        OptionalDependencyError: ``alt-profanity-check`` is not installed (``pip install 'poise[ml]'``).
    """
    data_dir = _package_data_dir()
    key = _digest(data_dir)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        path = _cache_dir() / f"toxicity-{key}.npz"
        model: ProfanityModel | None = None
        if cache and path.is_file():
            try:
                model = _load(path)
            except (OSError, ValueError, KeyError) as exc:  # a damaged cache is rebuilt, not trusted
                _log.warning("ignoring the damaged toxicity cache %s: %s", path, exc)
        if model is None:
            model = _from_pickle(data_dir)
            if cache and model.warning is None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    _save(model, path)
                except OSError as exc:  # a read-only home only costs the next process a second
                    _log.warning("cannot write the toxicity cache %s: %s", path, exc)
        _loaded[key] = model
        return model


class ToxicityDetector:
    """A :class:`~poise.guard.types.Detector` for insults, profanity and abuse (category ``toxicity``).

    Args:
        threshold: score at or above which the text is flagged.
        model: the model to use (default: the packaged one, loaded now so the first check is fast).
    """

    name = "toxicity"

    def __init__(self, threshold: float = TOXICITY_THRESHOLD, *, model: ProfanityModel | None = None) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within 0..1, got {threshold}")
        self.threshold = threshold
        self.model = model or load_profanity_model()

    def score(self, text: str) -> float:
        """The worst sentence's score (the whole text's when it is one sentence)."""
        parts = [m.group() for m in _SENTENCE_RE.finditer(text) if m.group().strip()]
        if len(parts) <= 1:
            return self.model.score(text)
        return max(self.model.score(p) for p in parts)

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        """Score ``text``; one ``toxicity`` finding when it reaches the threshold."""
        started = time.perf_counter()
        score = round(self.score(text), 4) if text.strip() else 0.0
        findings: tuple[Finding, ...] = ()
        if score >= self.threshold:
            spans = tuple(self.model.word_spans(text, self.threshold))
            findings = (Finding("toxicity", score, spans, f"profanity model p={score:.2f}"),)
        return DetectorResult(
            self.name, score >= self.threshold, score, findings, (time.perf_counter() - started) * 1000
        )


class UnavailableDetector:
    """Stands in for a detector whose optional dependency is missing: every check raises the error.

    The rail runner records that as a rail error, so the policy's ``on_error`` decides and the
    audit trail shows the gap on every check, instead of a policy that silently checks nothing.
    """

    def __init__(self, name: str, error: Exception) -> None:
        self.name = name
        self.error = error

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        raise self.error


def toxicity_detector(threshold: float = TOXICITY_THRESHOLD) -> ToxicityDetector | UnavailableDetector:
    """A :class:`ToxicityDetector`, or an :class:`UnavailableDetector` without ``alt-profanity-check``."""
    try:
        return ToxicityDetector(threshold)
    except OptionalDependencyError as exc:
        return UnavailableDetector(ToxicityDetector.name, exc)

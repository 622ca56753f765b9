"""Hashed character and word n-gram features, in pure numpy.

The classifier sees a text as a sparse vector of hashed n-grams: character 3- to 6-grams
(robust to spelling, inflection and scripts without spaces) and word 1- and 2-grams. Hashing is
done with fixed arithmetic on code points and CRC-32 of words, never with Python's salted
``hash()``, so the same text gives the same features in every process, at training and at
inference time. Values are sublinear term frequencies, L2-normalized.

One ~1k-token message costs well under a millisecond: the character n-grams are rolling hashes
computed with vectorized numpy over the code-point array.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import numpy.typing as npt

__all__ = ["DIM", "MAX_FEATURE_CHARS", "hashed_features"]

DIM = 1 << 19
"""Size of the hashed feature space."""
MAX_FEATURE_CHARS = 12_000
"""Longer texts are featurized from their first 9,000 and last 3,000 characters."""

_CHAR_NS = (3, 4, 5, 6)
"""Chosen by 5-fold cluster-grouped cross-validation on train + validation (``train --cv 5``)."""
_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
with np.errstate(over="ignore"):
    _SEEDS = {n: np.uint64(n) * _PRIME ** np.uint64(n) for n in _CHAR_NS}
_WORD_RE = re.compile(r"\w+")
_SPACE_RE = re.compile(r"\s+")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """A cheap avalanche step (xorshift-multiply) so that ``h % DIM`` spreads evenly."""
    h = h ^ (h >> np.uint64(29))
    h = h * _MIX
    return h ^ (h >> np.uint64(32))


def _char_hashes(text: str) -> npt.NDArray[np.uint64]:
    """For each n in :data:`_CHAR_NS` and each position i: ``n·P^n + Σ_k cps[i+k]·P^(n-1-k)``.

    The sum for n is the sum for n-1 times P plus the next code point, so one multiply-add per
    length builds every n from the one before (uint64 arithmetic wraps, so the seed term can be
    added last and the values are those of hashing each n-gram from its seed).
    """
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    out: list[npt.NDArray[np.uint64]] = []
    rolling = cps
    for n in range(2, _CHAR_NS[-1] + 1):
        if cps.size < n:
            break
        rolling = rolling[:-1] * _PRIME + cps[n - 1 :]
        if n in _CHAR_NS:
            out.append(rolling + _SEEDS[n])
    if not out:
        return np.zeros(0, dtype=np.uint64)
    return np.concatenate(out)


def _word_hashes(text: str) -> npt.NDArray[np.uint64]:
    words = _WORD_RE.findall(text)
    if not words:
        return np.zeros(0, dtype=np.uint64)
    uni = np.fromiter((zlib.crc32(w.encode("utf-8", "surrogatepass")) for w in words), np.uint64, len(words))
    uni = uni + np.uint64(0xABCDEF0000)
    if uni.size < 2:
        return uni
    bi = uni[:-1] * _PRIME + uni[1:] + np.uint64(0x5BD1E995)
    return np.concatenate([uni, bi])


def prepare(text: str) -> str:
    """Lowercase, squeeze whitespace and cut to :data:`MAX_FEATURE_CHARS` (head and tail)."""
    text = _SPACE_RE.sub(" ", text.lower()).strip()
    if len(text) > MAX_FEATURE_CHARS:
        text = text[:9_000] + " " + text[-3_000:]
    return text


def hashed_features(text: str) -> tuple[IntArray, FloatArray]:
    """Feature indices (sorted, unique) and their L2-normalized sublinear-tf values."""
    text = prepare(text)
    hashes = np.concatenate([_char_hashes(f" {text} "), _word_hashes(text)])
    if hashes.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx = (_mix(hashes) % np.uint64(DIM)).astype(np.int64)
    uniq, counts = np.unique(idx, return_counts=True)
    vals = (1.0 + np.log(counts)).astype(np.float32)
    vals /= np.float32(np.sqrt(float(np.dot(vals, vals))))
    return uniq, vals

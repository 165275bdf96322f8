"""Benchmark: cleaning throughput against the spaCy stage, on the same real text.

Target (issue #3): cleaning is at least 20x faster than extraction, so it never matters
for speed. Both stages run on the same texts in one process, one after the other, and the
figure reported is the ratio of their throughputs (MB/s), which is stable across machines.

Usage: .venv/bin/python bench/cleaning_vs_spacy.py [--corpus ../shared/corpora/bbc-dev] [--target 20]
Exits 1 when the ratio is below the target.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=PROJECT_ROOT.parent / "shared" / "corpora" / "bbc-dev")
    parser.add_argument("--target", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3, help="cleaning passes (best one counts)")
    args = parser.parse_args()

    from pipelines.models import Failure
    from pipelines.pipeline import Pipeline
    from pipelines.settings import Settings
    from pipelines.sources.folder import read_folder

    # The production pipeline's own components, configured from the same settings.
    pipeline = Pipeline.from_settings(Settings.from_env())
    cleaner, extractor = pipeline.component("clean"), pipeline.component("extract")
    articles = [item for item in read_folder(args.corpus) if not isinstance(item, Failure)]
    megabytes = sum(len(a.body.encode()) for a in articles) / 1e6
    print(f"corpus: {len(articles)} articles, {megabytes:.2f} MB of body text ({args.corpus})")

    clean_seconds = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        cleaned = list(cleaner.pipe(articles))
        clean_seconds = min(clean_seconds, time.perf_counter() - started)

    extractor.nlp  # load the model outside the timed section  # noqa: B018
    started = time.perf_counter()
    for _ in extractor.pipe(cleaned):
        pass
    spacy_seconds = time.perf_counter() - started

    clean_rate, spacy_rate = megabytes / clean_seconds, megabytes / spacy_seconds
    ratio = clean_rate / spacy_rate
    print(f"cleaning:   {clean_rate:8.2f} MB/s  ({clean_seconds:.2f}s, best of {args.repeat})")
    print(f"extraction: {spacy_rate:8.2f} MB/s  ({spacy_seconds:.2f}s, {extractor.model_version})")
    print(f"ratio cleaning/extraction: {ratio:.1f}x (target >= {args.target:g}x)")
    return 0 if ratio >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())

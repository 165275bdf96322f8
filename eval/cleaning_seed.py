"""Cleaning acceptance on the real seed article(s) in ../shared/seeds (run by .ci/run).

Checks, per seed file: no ``[caption`` left in the body; the caption's text is in
``captions``; every line outside the shortcode is in the body word for word (apostrophe
repairs such as "Russias" → "Russia's" are listed and undone for the comparison).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_CAPTION = re.compile(r"\[caption[^\]]*\](.*?)\[/caption\]", re.DOTALL | re.IGNORECASE)


def check(path: Path, clean) -> list[str]:  # noqa: ANN001 — the pipeline's clean component
    from pipelines.cleaning import html_to_text
    from pipelines.models import RawArticle

    raw_text = path.read_text(encoding="utf-8")
    article = clean(RawArticle(doc_id=path.name, source="seed", source_ref=path.name, body=raw_text))
    problems = []
    if "[caption" in article.body.lower():
        problems.append("body still contains [caption")
    expected_captions = [" ".join(html_to_text(inner).split()) for inner in _CAPTION.findall(raw_text)]
    if list(article.captions) != expected_captions:
        problems.append(f"captions {article.captions!r} != {expected_captions!r}")

    # Repairs only ever insert an apostrophe, so compare with apostrophes set aside.
    def comparable(text: str) -> str:
        return " ".join(text.split()).replace("'", "") if article.repairs else " ".join(text.split())

    body = comparable(article.body)
    outside = [line.strip() for line in _CAPTION.sub("\n", raw_text).splitlines() if line.strip()]
    missing = [line for line in outside if comparable(line) not in body]
    if missing:
        problems.append(f"{len(missing)} line(s) not kept word for word, e.g. {missing[0][:120]!r}")

    print(f"{path.name}: {len(outside)} lines outside shortcodes, all kept: {not missing}; "
          f"captions: {len(article.captions)}; shortcodes removed: {list(article.removed_shortcodes)}; "
          f"apostrophe repairs: {list(article.repairs)}")
    for caption in article.captions:
        print(f"  caption: {caption}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, default=PROJECT_ROOT.parent / "shared" / "seeds")
    args = parser.parse_args()
    files = sorted(p for p in args.seeds.glob("*") if p.is_file())
    if not files:
        print(f"no seed files in {args.seeds}", file=sys.stderr)
        return 2
    from pipelines.pipeline import Pipeline
    from pipelines.settings import Settings

    clean = Pipeline.from_settings(Settings.from_env()).component("clean")  # as configured in production
    problems = {path.name: check(path, clean) for path in files}
    failed = {name: found for name, found in problems.items() if found}
    for name, found in failed.items():
        print(f"FAIL {name}: " + "; ".join(found))
    print("PASS" if not failed else f"FAIL: {len(failed)} of {len(files)} seed files")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

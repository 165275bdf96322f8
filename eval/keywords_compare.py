"""Keywords before and after: the ``yake`` package against newsflow's one-pass YAKE, same articles.

Both score candidates from the same cleaned text and pass them through the same selection
(``select_keywords``: entity fragments, offices and function-word spans dropped), so what
differs is only the scoring. Three figures per system, run by hand:

* **headline hits** — the share of keywords sharing a content word with the article's headline
  (BBC files start with theirs; the body below it is what is scored). A topical keyword tends
  to be in the headline; it is a proxy, the same for both systems.
* **entity fragments** — on the labelled set (``tests/data/quality``), keywords holding part of
  a labelled person, organisation or place without being it ("President Bashar").
* **agreement** — the mean share of the package's top 10 also in newsflow's, and the cost per
  article of each scorer (spaCy excluded: the sentences come from the pipeline's extraction).

Usage: ``.venv/bin/python eval/keywords_compare.py --corpus ../shared/corpora/bbc-dev [--limit 300]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
QUALITY_DIR = PROJECT_ROOT / "tests" / "data" / "quality"


def _content_words(text: str, stops: frozenset[str]) -> set[str]:
    return {word.strip(".,:;'\"()").casefold() for word in text.split()} - stops - {""}


def compare(articles, nlp, headlines: dict[str, str] | None, labels: dict[str, set[str]] | None) -> dict[str, dict[str, float]]:
    import yake

    from pipelines.extraction.keywords import candidate_phrases, select_keywords, stop_words

    package = yake.KeywordExtractor(lan="en", n=3, dedup_lim=0.7, top=40)
    stops = stop_words("en")
    results: dict[str, dict[str, list[float]]] = {"yake package": {}, "newsflow": {}}
    timings = {"yake package": 0.0, "newsflow": 0.0}
    agreement = []
    for article in articles:
        names = [e.text for e in article.entities if e.label != "DATE"]
        sentences = [sentence.text for sentence in nlp(article.clean.body).sents]  # as the extractor splits them
        started = time.perf_counter()
        old = select_keywords((phrase for phrase, _ in package.extract_keywords(article.clean.body)), names=names)
        timings["yake package"] += time.perf_counter() - started
        started = time.perf_counter()
        new = select_keywords((phrase for phrase, _ in candidate_phrases(sentences)), names=names)
        timings["newsflow"] += time.perf_counter() - started
        if old:
            agreement.append(len({k.casefold() for k in old} & {k.casefold() for k in new}) / len(old))
        ref = article.raw.source_ref
        for system, keywords in (("yake package", old), ("newsflow", new)):
            scores = results[system]
            if headlines is not None and keywords:
                headline = _content_words(headlines[ref], stops)
                hits = sum(1 for k in keywords if _content_words(k, stops) & headline)
                scores.setdefault("headline hits", []).append(hits / len(keywords))
            if labels is not None and keywords:
                gold = labels[ref]
                gold_words = {w for value in gold for w in value.split()}
                fragments = sum(1 for k in keywords if k.casefold() not in gold and set(k.casefold().split()) & gold_words)
                scores.setdefault("entity fragments", []).append(fragments / len(keywords))
            scores.setdefault("keywords per article", []).append(len(keywords))
    summary = {system: {name: statistics.fmean(values) for name, values in scores.items()} for system, scores in results.items()}
    for system in summary:
        summary[system]["ms per article"] = 1000 * timings[system] / max(1, len(articles))
    summary["newsflow"]["agreement with the package"] = statistics.fmean(agreement) if agreement else 0.0
    return summary


def _enrich(folder: Path, limit: int | None):
    from pipelines.models import RawArticle
    from pipelines.pipeline import Pipeline
    from pipelines.settings import Settings
    from pipelines.sources.folder import read_folder

    raws = [item for item in read_folder(folder, source_name="keywords") if isinstance(item, RawArticle)]
    raws = sorted(raws, key=lambda raw: raw.source_ref)[:limit]
    pipeline = Pipeline.from_settings(Settings.from_env())
    enriched, _ = pipeline.apply(raws, until="extract")
    return enriched, pipeline.component("extract").nlp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="folder of articles whose first line is the headline (e.g. bbc-dev)")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    report = {}
    labelled = json.loads((QUALITY_DIR / "labels.json").read_text(encoding="utf-8"))
    labels = {
        name: {v.casefold() for facet in ("persons", "organizations", "locations") for v in value[facet]}
        for name, value in labelled.items() if not name.startswith("_")
    }
    quality, nlp = _enrich(QUALITY_DIR / "articles", None)
    report[f"labelled set ({len(quality)})"] = compare(quality, nlp, None, labels)
    if args.corpus:
        articles, nlp = _enrich(args.corpus, args.limit)
        headlines = {a.raw.source_ref: a.title for a in articles}
        report[f"{args.corpus.name} ({len(articles)})"] = compare(articles, nlp, headlines, None)

    for name, systems in report.items():
        print(f"\n{name}")
        metrics = sorted({metric for values in systems.values() for metric in values})
        print(f"  {'':<28}" + "".join(f"{system:>16}" for system in systems))
        for metric in metrics:
            print(f"  {metric:<28}" + "".join(f"{systems[s].get(metric, float('nan')):>16.3f}" for s in systems))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

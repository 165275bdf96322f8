"""Facet quality on independent news NER gold data: newsflow's pipeline against the raw spaCy model.

Reads gold files given on the command line — CoNLL-2003 English (``eng.train``, ``eng.testa``;
never ``eng.testb``, the held-out test split) or the NIST 1999 IE-ER newswire sample (NLTK's
``ieer`` corpus files) — and scores document-level facet values (persons, organizations,
locations) with the lenient match of ``pipelines.evaluation`` (read its docstring for the exact
definitions). Two systems run on the same texts in the same process:

* **newsflow** — the production components, configured from the environment like production:
  ``Pipeline(Settings.from_env()).apply(raws, until="extract")`` (cleaning, language detection,
  spaCy, canonical entities, keywords, dates…); its facets ``persons``, ``organizations``,
  ``locations``.
* **raw model** — the same spaCy model (``NEWSFLOW_SPACY_MODEL``) with only ``ner`` enabled (and
  a shared ``tok2vec`` only if ner listens to it, as production decides), ``nlp.pipe`` over the
  same texts; PERSON → persons, ORG → organizations, GPE + LOC + FAC → locations, entity texts
  whitespace-normalised.

Speed is wall time of each system over all documents after a warm-up (model load excluded):
documents/s and gold words/s. The gold data stays outside the repository; this script is run by
hand, not in CI, and nothing imports it.

Usage::

    PYTHONPATH=. .venv/bin/python eval/facets_conll.py /work/data/conll2003/eng.testa [--limit N]
        [--sample N --seed S] [--format conll|ieer] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

RAW_LABELS = {"PERSON": "persons", "ORG": "organizations", "GPE": "locations", "LOC": "locations", "FAC": "locations"}


def read_gold(paths: list[Path], kind: str) -> list[tuple[Any, Any]]:
    from pipelines.evaluation import CONLL_FACETS, IEER_FACETS, read_conll, read_ieer

    documents = []
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        fmt = kind if kind != "auto" else ("ieer" if "<b_enamex" in text else "conll")
        if "testb" in path.name:
            raise SystemExit(f"{path}: the held-out test split is not for this evaluation")
        if fmt == "ieer":
            documents += [(doc, IEER_FACETS) for doc in read_ieer(text)]
        else:
            documents += [(doc, CONLL_FACETS) for doc in read_conll(text, name=path.name)]
    return documents


def run_newsflow(documents: list[Any]) -> tuple[dict[str, dict[str, list[str]]], float, dict[str, Any]]:
    from pipelines.models import RawArticle
    from pipelines.pipeline import Pipeline
    from pipelines.settings import Settings

    pipeline = Pipeline(Settings.from_env())
    pipeline.apply([RawArticle("warm-up", "eval:conll", "warm-up", "Warm-up text from London.")], until="extract")
    raws = [RawArticle(doc.doc_id, source="eval:conll", source_ref=doc.doc_id, body=doc.text) for doc in documents]
    started = time.perf_counter()
    enriched, failures = pipeline.apply(raws, until="extract")
    seconds = time.perf_counter() - started
    predicted = {
        article.raw.doc_id: {facet: list(article.facets[facet]) for facet in ("persons", "organizations", "locations")}
        for article in enriched
    }
    languages: dict[str, int] = {}
    for article in enriched:
        languages[article.language] = languages.get(article.language, 0) + 1
    info = {"model": pipeline.model_version, "failures": [f.to_dict(message_chars=200) for f in failures],
            "languages": languages}
    return predicted, seconds, info


def run_raw_model(documents: list[Any], model_name: str, batch_size: int) -> tuple[dict[str, dict[str, list[str]]], float, str]:
    import spacy

    from pipelines.evaluation import normalize
    from pipelines.extraction.extractor import MODEL_FALLBACKS, components_needed_for

    for candidate in (model_name, *MODEL_FALLBACKS.get(model_name, ())):
        try:
            nlp = spacy.load(candidate)
            break
        except OSError:
            continue
    else:
        raise SystemExit(f"no spaCy model {model_name} installed")
    keep = components_needed_for(nlp, ("ner",))
    for pipe in nlp.pipe_names:
        if pipe not in keep:
            nlp.disable_pipe(pipe)
    nlp("Warm-up text from London.")
    started = time.perf_counter()
    predicted: dict[str, dict[str, list[str]]] = {}
    for document, doc in zip(documents, nlp.pipe((d.text for d in documents), batch_size=batch_size), strict=True):
        facets: dict[str, list[str]] = {"persons": [], "organizations": [], "locations": []}
        for ent in doc.ents:
            if ent.label_ in RAW_LABELS:
                facets[RAW_LABELS[ent.label_]].append(normalize(ent.text))
        predicted[document.doc_id] = facets
    seconds = time.perf_counter() - started
    return predicted, seconds, f"{nlp.meta['lang']}_{nlp.meta['name']}-{nlp.meta['version']} ({'+'.join(nlp.pipe_names)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="gold files (CoNLL-2003 or NIST IE-ER)")
    parser.add_argument("--format", choices=("auto", "conll", "ieer"), default="auto")
    parser.add_argument("--limit", type=int, help="the first N documents only")
    parser.add_argument("--sample", type=int, help="N documents drawn at random (with --seed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write scores, speeds and every error here (keep it out of the repo)")
    args = parser.parse_args()

    from pipelines.evaluation import EVAL_FACETS, score_documents
    from pipelines.settings import Settings

    pairs = read_gold(args.paths, args.format)
    if args.sample is not None and args.sample < len(pairs):
        pairs = sorted(random.Random(args.seed).sample(pairs, args.sample), key=lambda pair: pairs.index(pair))
    if args.limit is not None:
        pairs = pairs[: args.limit]
    documents = [doc for doc, _ in pairs]
    gold = {doc.doc_id: doc.values(facets) for doc, facets in pairs}
    words = sum(doc.words for doc in documents)
    print(f"gold: {len(documents)} documents, {words} words, from {', '.join(str(p) for p in args.paths)}")

    settings = Settings.from_env()
    newsflow, newsflow_seconds, info = run_newsflow(documents)
    raw, raw_seconds, raw_model = run_raw_model(documents, settings.spacy_model, settings.batch_size)
    systems = {f"newsflow ({info['model']})": (newsflow, newsflow_seconds), f"raw {raw_model}": (raw, raw_seconds)}

    print(f"newsflow languages: {info['languages']}; failures: {len(info['failures'])}")
    report: dict[str, Any] = {"documents": len(documents), "words": words, "paths": [str(p) for p in args.paths],
                              "limit": args.limit, "sample": args.sample, "seed": args.seed, "systems": {}}
    header = "| facet | " + " | ".join(f"{name} P / R / F1" for name in systems) + " |"
    rows = []
    scores_by_system = {name: score_documents(gold, predicted) for name, (predicted, _) in systems.items()}
    for facet in EVAL_FACETS:
        cells = [f"{s[facet].precision:.3f} / {s[facet].recall:.3f} / {s[facet].f1:.3f}" for s in scores_by_system.values()]
        rows.append(f"| {facet} | " + " | ".join(cells) + " |")
    speed = [f"{len(documents) / seconds:.1f} docs/s, {words / seconds:,.0f} words/s" for _, seconds in systems.values()]
    print("\n" + header + "\n|---|" + "---|" * len(systems) + "\n" + "\n".join(rows))
    print("| speed | " + " | ".join(speed) + " |")

    for name, (predicted, seconds) in systems.items():
        scores = scores_by_system[name]
        report["systems"][name] = {
            "seconds": round(seconds, 2), "docs_per_s": round(len(documents) / seconds, 2),
            "words_per_s": round(words / seconds), "facets": {f: s.to_dict() for f, s in scores.items()},
            "errors": {f: {"false_positives": s.false_positives, "false_negatives": s.false_negatives}
                       for f, s in scores.items()},
        }
    report["newsflow"] = info
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

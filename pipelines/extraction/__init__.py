"""Extraction: what spaCy and the metadata steps find in a cleaned article.

``extractor`` runs the model in batches (the ``extract`` component); ``entities`` turns raw NER
mentions into one canonical value per entity; ``metadata`` adds language, keywords, mentioned
dates, a lead summary and reading time.
"""

from pipelines.extraction.extractor import FACET_LABELS, MODEL_FALLBACKS, Extractor, load_model

__all__ = ["FACET_LABELS", "MODEL_FALLBACKS", "Extractor", "load_model"]

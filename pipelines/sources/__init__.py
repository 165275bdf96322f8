"""Sources: plain generators that yield ``RawArticle`` records, or a ``Failure`` for what they could not read."""

from pipelines.sources.folder import (
    DEFAULT_MAX_BYTES,
    SUPPORTED_SUFFIXES,
    decode_bytes,
    iter_article_files,
    looks_like_title,
    read_article_file,
    read_files,
    read_folder,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_SUFFIXES",
    "decode_bytes",
    "iter_article_files",
    "looks_like_title",
    "read_article_file",
    "read_files",
    "read_folder",
]

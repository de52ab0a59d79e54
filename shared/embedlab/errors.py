"""Exceptions raised by embedlab.

Every error says what was wrong and what to do about it. They subclass the built-in
exception a learner would expect (``ValueError``, ``TypeError``, ...) so existing
``except`` clauses keep working.
"""

from __future__ import annotations

__all__ = [
    "EmbedlabError",
    "InvalidInputError",
    "UnknownModelError",
    "ModelNotAvailableError",
    "IncompatibleEmbeddingsError",
    "NotNormalizedError",
    "DatasetFormatError",
    "CacheError",
    "APIKeyError",
]


class EmbedlabError(Exception):
    """Base class of every error raised on purpose by embedlab."""


class InvalidInputError(EmbedlabError, ValueError):
    """Texts or arguments that cannot be embedded (empty, None, wrong type...)."""


class UnknownModelError(EmbedlabError, KeyError):
    """A model name that is neither in the catalogue, a local path, nor a hub id."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class ModelNotAvailableError(EmbedlabError, RuntimeError):
    """A known model that cannot be loaded here (offline and not installed)."""


class IncompatibleEmbeddingsError(EmbedlabError, ValueError):
    """Vectors from different models, kinds or dimensions were compared."""


class NotNormalizedError(EmbedlabError, ValueError):
    """Unit-length vectors were required but the input is not normalised."""


class DatasetFormatError(EmbedlabError, ValueError):
    """A malformed dataset file; the message names the file, the line and the problem."""


class CacheError(EmbedlabError, RuntimeError):
    """An embedding cache that cannot be used (corrupt, other model, ...)."""


class APIKeyError(EmbedlabError, RuntimeError):
    """A missing or rejected API key."""

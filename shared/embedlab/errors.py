"""Exceptions raised by embedlab, and the input checks that raise them.

Each message says what was wrong and what to do about it.

They subclass the built-in exception a learner would expect (``ValueError``, ...), so
existing ``except`` clauses keep working.
"""

from __future__ import annotations

from collections.abc import Iterable


class EmbedlabError(Exception):
    """Base class of every error raised on purpose by embedlab."""


class InvalidInputError(EmbedlabError, ValueError):
    """Texts or arguments that cannot be used (empty, None, wrong type, out of range)."""


class UnknownModelError(EmbedlabError, KeyError):
    """A model name that is neither in the catalogue, a local folder, nor a hub id."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class ModelNotAvailableError(EmbedlabError, RuntimeError):
    """A known model that cannot be loaded here (offline and not installed)."""


class IncompatibleEmbeddingsError(EmbedlabError, ValueError):
    """Vectors of different models or dimensions were compared."""


class NotNormalizedError(EmbedlabError, ValueError):
    """Unit-length vectors were required but the input is not normalised."""


class DatasetFormatError(EmbedlabError, ValueError):
    """A malformed dataset file; the message names the file, the line and the problem."""


class CacheError(EmbedlabError, RuntimeError):
    """An embedding cache file that cannot be used (corrupt, another program's)."""


class APIKeyError(EmbedlabError, RuntimeError):
    """A missing or rejected API key."""


def positive_int(value: object, name: str, hint: str = "") -> int:
    """Return ``value`` if it is a positive ``int``, else raise :class:`InvalidInputError`.

    >>> positive_int(3, "k")
    3
    >>> positive_int("32", "batch_size", "Try 32.")
    Traceback (most recent call last):
    ...
    embedlab.errors.InvalidInputError: batch_size must be a positive integer, got '32'. Try 32.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}. {hint}".strip())
    return value


def check_texts(texts: str | Iterable[str] | None, what: str = "texts") -> list[str]:
    """``texts`` as a list of non-empty strings (one string becomes a list), or a clear error.

    >>> check_texts("hello")
    ['hello']
    """
    if texts is None:
        raise InvalidInputError(
            f"{what} is None. Pass a string or a list of strings, e.g. ['a first sentence']."
        )
    if isinstance(texts, bytes):
        raise InvalidInputError(
            f"{what} is bytes, not text. Decode it first: data.decode('utf-8')."
        )
    kind = type(texts).__name__
    if kind in ("DataFrame", "Series"):
        column = "df['text']" if kind == "DataFrame" else "the_series"
        raise InvalidInputError(
            f"{what} is a pandas {kind}: iterating over it gives its "
            f"{'column names' if kind == 'DataFrame' else 'values with surprises'}, not your "
            f"texts. Pass a list of strings, e.g. {column}.tolist()."
        )
    single = isinstance(texts, str)
    try:
        items = [texts] if single else list(texts)
    except TypeError:
        raise InvalidInputError(
            f"{what} must be a string or a list of strings, got {kind}."
        ) from None
    if not items:
        raise InvalidInputError(
            f"{what} is an empty list: there is nothing to embed. Pass at least one string."
        )
    for i, item in enumerate(items):
        where = what if single else f"{what}[{i}]"
        if item is None:
            raise InvalidInputError(
                f"{where} is None. Remove missing values first, e.g. "
                "[t for t in texts if t is not None]."
            )
        if not isinstance(item, str):
            raise InvalidInputError(
                f"{where} is not a string but {type(item).__name__} ({item!r:.40}). "
                "Convert it with str() or remove it."
            )
        if not item.strip():
            raise InvalidInputError(
                f"{where} is empty or whitespace only ({item!r}). An empty text has no "
                "meaning to embed: remove it or replace it with real text."
            )
    return items

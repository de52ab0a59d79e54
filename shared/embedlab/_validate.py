"""Input validation shared by every entry point that takes texts."""

from __future__ import annotations

from collections.abc import Iterable

from embedlab.errors import InvalidInputError

__all__ = ["check_texts"]


def check_texts(texts: str | Iterable[str] | None, *, what: str = "texts") -> list[str]:
    """Return ``texts`` as a list of non-empty strings, or raise a clear error.

    A single string is accepted and wrapped in a list.

    Example:
        >>> check_texts("hello")
        ['hello']
        >>> check_texts(["ok", "  "])
        Traceback (most recent call last):
        ...
        embedlab.errors.InvalidInputError: texts[1] is empty or whitespace only ...
    """
    if texts is None:
        raise InvalidInputError(
            f"{what} is None. Pass a string or a list of strings, e.g. ['a first sentence']."
        )
    if isinstance(texts, str):
        items: list = [texts]
        single = True
    elif isinstance(texts, bytes):
        raise InvalidInputError(
            f"{what} is bytes, not text. Decode it first: data.decode('utf-8')."
        )
    else:
        try:
            items = list(texts)
        except TypeError:
            raise InvalidInputError(
                f"{what} must be a string or a list of strings, got {type(texts).__name__}."
            ) from None
        single = False
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

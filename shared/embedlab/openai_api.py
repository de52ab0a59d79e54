"""Optional OpenAI embedding models, with the surface of a sentence-transformers model.

Every lab runs without them. With a key, ``load_model("text-embedding-3-small")`` returns an
:class:`OpenAIEmbedder`: ``encode_query`` / ``encode_document`` / ``similarity`` as usual.
The ``openai`` client does the HTTP, retries with backoff (``max_retries``) and the key;
what is kept here: a batching loop (2,048 inputs per request is the API's limit) and
errors that say what to do. The key is read from ``OPENAI_API_KEY`` or Colab's Secrets and
never stored on the object, printed, or cached.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from embedlab.errors import (
    APIKeyError,
    EmbedlabError,
    InvalidInputError,
    check_texts,
    positive_int,
)

PRICES_AS_OF = "2026-11-22"
MODELS = {
    "text-embedding-3-small": (1536, 0.02),
    "text-embedding-3-large": (3072, 0.13),
}  # dims, USD per 1M tokens
MAX_INPUTS = 2048
_OPTIONAL = "API models are optional: every lab also runs with the local models."


def api_key() -> str | None:
    """``OPENAI_API_KEY`` from the environment, else from Colab's Secrets, else ``None``."""
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if key:
        return key
    try:
        from google.colab import userdata  # only in Colab

        return (userdata.get("OPENAI_API_KEY") or "").strip() or None
    except Exception:  # not in Colab, secret not defined, or notebook access not granted
        return None


def skip_unless_openai(what: str) -> bool:
    """For an optional cell: True if ``what`` can run, else print one "Skipped" line."""
    if api_key() is None:
        print(f"Skipped: {what} needs OPENAI_API_KEY (optional).")
        return False
    try:
        import openai  # noqa: F401
    except ImportError:
        print(f"Skipped: {what} needs the openai package: pip install 'embedlab[openai]'.")
        return False
    return True


def estimate_cost(texts: Iterable[str], model: str = "text-embedding-3-small") -> dict[str, Any]:
    """Tokens and US dollars to embed ``texts``: counted with tiktoken when it is installed,
    else estimated at 3 bytes per token (conservative for English)."""
    items = check_texts(texts)
    if model not in MODELS:
        raise InvalidInputError(
            f"Unknown OpenAI embedding model {model!r}. Known: {', '.join(MODELS)}."
        )
    try:
        import tiktoken

        tokens, exact = (
            sum(
                map(
                    len,
                    tiktoken.get_encoding("cl100k_base").encode_ordinary_batch(items),
                )
            ),
            True,
        )
    except Exception:  # not installed, or its tables cannot be downloaded offline
        tokens, exact = sum(-(-len(t.encode()) // 3) for t in items), False
    usd = tokens * MODELS[model][1] / 1e6
    return {
        "model": model,
        "tokens": tokens,
        "exact": exact,
        "usd": usd,
        "prices_as_of": PRICES_AS_OF,
    }


class OpenAIEmbedder:
    """An OpenAI embedding model behind ``encode`` / ``encode_query`` / ``encode_document``.

    Args:
        model: ``"text-embedding-3-small"`` (1536 d) or ``"text-embedding-3-large"`` (3072 d).
        dimensions: Shorter vectors from the API (Matryoshka), ``None`` for the full size.
        max_retries: Retries of the openai client on 429, 5xx and timeouts.
        batch_size: Inputs per request, at most 2,048.
    """

    prompts: dict[str, str] = {}

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        *,
        max_retries: int = 4,
        timeout: float = 30.0,
        batch_size: int = MAX_INPUTS,
    ) -> None:
        if model not in MODELS and not os.environ.get("OPENAI_BASE_URL"):
            raise InvalidInputError(
                f"Unknown OpenAI embedding model {model!r}. Known: {', '.join(MODELS)}."
            )
        native = MODELS.get(model, (None,))[0]
        if dimensions is not None and (
            positive_int(dimensions, "dimensions") > (native or dimensions)
        ):
            raise InvalidInputError(
                f"dimensions={dimensions} is larger than {model}'s {native} dimensions. Pick a "
                f"value from 1 to {native}, e.g. 256 or 512."
            )
        if not 1 <= positive_int(batch_size, "batch_size") <= MAX_INPUTS:
            raise InvalidInputError(
                f"batch_size must be at most {MAX_INPUTS} (the API's limit), got {batch_size}."
            )
        if api_key() is None:
            raise APIKeyError(
                "OPENAI_API_KEY is not set. To use OpenAI models, create a key at "
                "https://platform.openai.com/api-keys and put it in the environment variable "
                "OPENAI_API_KEY (in Colab: the key icon 'Secrets' in the left sidebar, with "
                f"notebook access on). {_OPTIONAL}"
            )
        self.model, self.dimensions, self.batch_size = model, dimensions, batch_size
        self._client_args = {"max_retries": max_retries, "timeout": timeout}
        self.cache_identity = f"openai:{model}:{dimensions or native}"

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, dimensions={self.dimensions})"

    def get_embedding_dimension(self) -> int | None:
        return self.dimensions or MODELS.get(self.model, (None,))[0]

    def encode(
        self,
        sentences: str | Iterable[str],
        *,
        normalize_embeddings: bool = True,
        **_: Any,
    ) -> np.ndarray:
        """Embed texts (a string gives one vector); the API's vectors already have unit length."""
        import openai

        items = check_texts(sentences)
        client = openai.OpenAI(api_key=api_key(), **self._client_args)
        extra = {"dimensions": self.dimensions} if self.dimensions else {}
        rows = []
        try:
            for start in range(0, len(items), self.batch_size):
                reply = client.embeddings.create(
                    model=self.model,
                    input=items[start : start + self.batch_size],
                    **extra,
                )
                rows += [d.embedding for d in sorted(reply.data, key=lambda d: d.index)]
        except openai.AuthenticationError:
            raise APIKeyError(
                f"OpenAI rejected the API key (401): check OPENAI_API_KEY. {_OPTIONAL}"
            ) from None
        except openai.APIStatusError as exc:
            raise EmbedlabError(
                f"The OpenAI API answered {exc.status_code} after retries: {exc.message}"
            ) from None
        except openai.APIConnectionError as exc:
            raise EmbedlabError(
                f"Cannot reach the OpenAI API ({exc.__class__.__name__}). Check the network."
            ) from None
        out = np.asarray(rows, dtype=np.float32)
        if normalize_embeddings:
            import torch
            from sentence_transformers.util import normalize_embeddings

            out = normalize_embeddings(torch.from_numpy(out)).numpy()
        return out[0] if isinstance(sentences, str) else out

    encode_query = encode
    encode_document = encode

    def similarity(self, a: Any, b: Any) -> Any:
        from sentence_transformers.util import cos_sim

        return cos_sim(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))

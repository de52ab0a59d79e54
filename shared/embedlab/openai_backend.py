"""OpenAI embedding models behind the same surface as a sentence-transformers model.

API models are **optional** in this course: every lab works with the local models. When
``OPENAI_API_KEY`` is set, :class:`OpenAIEmbedder` lets a lab swap in
``text-embedding-3-small`` / ``text-embedding-3-large`` without changing its code::

    model = OpenAIEmbedder("text-embedding-3-small")   # instead of SentenceTransformer(...)
    q = model.encode_query("how do I reset my password?")
    d = model.encode_document(["Open Settings > Account > Reset password.", "Opening hours"])
    model.similarity(q, d)                               # cosine, like sentence-transformers

The key is read from the environment only (``OPENAI_API_KEY``; in Colab, the key icon in the
left sidebar, "Secrets"). It is never accepted as an argument, stored on the object, printed,
put into ``repr()``, error messages or pickles.

What this module takes care of:

* batching: at most 2,048 inputs and 300,000 tokens per request (the API's limits);
* overlong inputs (> 8,191 tokens) are truncated, with one warning per call;
* results are put back in input order using each item's ``index``;
* retries with exponential backoff on 429/5xx/timeouts, by the ``openai`` client itself;
* clear :mod:`embedlab.errors` exceptions instead of raw HTTP errors;
* token usage bookkeeping (``usage_tokens``) and a cost estimate before you spend anything.

Token counts use ``tiktoken`` when it is installed and its ``cl100k_base`` tables can be
loaded; otherwise they are *estimated* conservatively as one token per 3 bytes of UTF-8 text
(~3 characters of English; real English text averages ~4 characters per token).
"""

from __future__ import annotations

import base64
import functools
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np

from embedlab._validate import check_texts
from embedlab.errors import APIKeyError, EmbedlabError, InvalidInputError, UnknownModelError

__all__ = [
    "OpenAIEmbedder",
    "OpenAIRequestError",
    "CostEstimate",
    "MODELS",
    "PRICES_AS_OF",
    "MAX_INPUTS_PER_REQUEST",
    "MAX_TOKENS_PER_INPUT",
    "MAX_TOKENS_PER_REQUEST",
    "estimate_cost",
    "count_tokens",
    "plan_batches",
    "openai_available",
    "skip_unless_openai",
]

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_INPUTS_PER_REQUEST = 2048  # "any array must be 2048 dimensions or less"
MAX_TOKENS_PER_INPUT = 8191  # text-embedding-3-* / ada-002 context length
MAX_TOKENS_PER_REQUEST = 300_000  # summed over all inputs of one request
BYTES_PER_TOKEN_ESTIMATE = 3  # fallback without tiktoken: conservative for English
_TIKTOKEN_ENCODING = "cl100k_base"  # the tokenizer of every OpenAI embedding model

# Prices in USD per 1 million input tokens (standard, non-batch API).
# Prices change: re-check them on https://openai.com/api/pricing before relying on them,
# and update PRICES_AS_OF when you do.
PRICES_AS_OF = "2026-11-22"


@dataclass(frozen=True)
class _ModelInfo:
    native_dims: int
    price_per_million: float
    supports_dimensions: bool


MODELS: dict[str, _ModelInfo] = {
    "text-embedding-3-small": _ModelInfo(1536, 0.02, True),
    "text-embedding-3-large": _ModelInfo(3072, 0.13, True),
    "text-embedding-ada-002": _ModelInfo(1536, 0.10, False),
}


class OpenAIRequestError(EmbedlabError, RuntimeError):
    """An embeddings request that failed (after the client's retries, where it retries).

    Attributes:
        status_code: The HTTP status, or ``None`` when the server could not be reached.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class CostEstimate:
    """What embedding some texts would cost.

    Attributes:
        tokens: Input tokens that would be billed (after truncation to 8,191 per text).
        usd: Estimated price in US dollars.
        price_per_million: The price used, USD per 1M tokens.
        price_date: When that price was checked (``PRICES_AS_OF``).
        exact: ``True`` if tokens were counted with ``tiktoken``, ``False`` if estimated.
    """

    tokens: int
    usd: float
    price_per_million: float
    price_date: str
    exact: bool = False

    def __str__(self) -> str:
        how = "counted with tiktoken" if self.exact else "estimated, ~3 bytes/token"
        return (
            f"{self.tokens:,} tokens ({how}) x ${self.price_per_million}/1M = "
            f"${self.usd:.6f} (price as of {self.price_date}; check openai.com/api/pricing)"
        )


# --------------------------------------------------------------------------- availability


def _key_is_set() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY", "").strip())


def _openai_importable() -> bool:
    try:
        import openai  # noqa: F401
    except ImportError:
        return False
    return True


def openai_available() -> bool:
    """Return ``True`` if ``OPENAI_API_KEY`` is set and the ``openai`` package is installed.

    Example:
        >>> import os; os.environ.pop("OPENAI_API_KEY", None) and None
        >>> openai_available()
        False
    """
    return _key_is_set() and _openai_importable()


def skip_unless_openai(what: str) -> bool:
    """Notebook guard: return ``True`` if ``what`` can run, else print one line and return False.

    Args:
        what: What the cell would do, e.g. ``"the text-embedding-3-small comparison"``.

    Example:
        >>> import os; os.environ.pop("OPENAI_API_KEY", None) and None
        >>> if skip_unless_openai("the OpenAI comparison"):
        ...     pass
        Skipped: the OpenAI comparison needs OPENAI_API_KEY (optional).
    """
    if not _key_is_set():
        print(f"Skipped: {what} needs OPENAI_API_KEY (optional).")
        return False
    if not _openai_importable():
        print(
            f"Skipped: {what} needs the openai package (optional): "
            "pip install 'embedlab[openai]' and restart."
        )
        return False
    return True


# --------------------------------------------------------------------------- tokens & cost


@functools.lru_cache(maxsize=1)
def _get_encoding() -> Any | None:
    """The tiktoken encoding, or ``None`` (not installed, or its tables cannot be loaded)."""
    try:
        import tiktoken

        return tiktoken.get_encoding(_TIKTOKEN_ENCODING)
    except Exception:  # ImportError, or offline without the cached BPE file
        return None


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN_ESTIMATE))


def _check_model_name(model: str) -> _ModelInfo:
    if model not in MODELS:
        raise UnknownModelError(
            f"Unknown OpenAI embedding model {model!r}. Known models: {', '.join(MODELS)}."
        )
    return MODELS[model]


def count_tokens(texts: str | Iterable[str]) -> tuple[list[int], bool]:
    """Count the tokens of each text, exactly with tiktoken or as a conservative estimate.

    Args:
        texts: A string or a list of strings.

    Returns:
        ``(counts, exact)``: one count per text, and whether tiktoken was used.

    Example:
        >>> count_tokens(["abcdef", "abc"])  # without tiktoken: 1 token per 3 bytes
        ([2, 1], False)
    """
    items = check_texts(texts)
    enc = _get_encoding()
    if enc is None:
        return [_estimate_tokens(t) for t in items], False
    return [len(ids) for ids in enc.encode_ordinary_batch(items)], True


def estimate_cost(
    texts: str | Iterable[str], model: str = "text-embedding-3-small"
) -> CostEstimate:
    """Estimate what embedding ``texts`` with ``model`` would cost, before calling the API.

    Texts longer than 8,191 tokens are counted as 8,191 (they would be truncated).

    Args:
        texts: A string or a list of strings.
        model: One of :data:`MODELS`.

    Example:
        >>> est = estimate_cost(["abc" * 100] * 1000)  # without tiktoken: 100 tokens each
        >>> est.tokens, f"{est.usd:.4f}", est.price_per_million
        (100000, '0.0020', 0.02)
    """
    info = _check_model_name(model)
    counts, exact = count_tokens(texts)
    tokens = sum(min(c, MAX_TOKENS_PER_INPUT) for c in counts)
    return CostEstimate(
        tokens=tokens,
        usd=tokens * info.price_per_million / 1_000_000,
        price_per_million=info.price_per_million,
        price_date=PRICES_AS_OF,
        exact=exact,
    )


def _truncate(texts: list[str], max_tokens: int) -> tuple[list[str], list[int], int]:
    """Truncate texts to ``max_tokens``; return (texts, token counts, number truncated)."""
    enc = _get_encoding()
    out: list[str] = []
    counts: list[int] = []
    n_truncated = 0
    for text in texts:
        if enc is not None:
            ids = enc.encode_ordinary(text)
            if len(ids) > max_tokens:
                n_truncated += 1
                keep = max_tokens
                text = enc.decode(ids[:keep])
                # decode/encode is not always a round trip: trim until it fits.
                while len(enc.encode_ordinary(text)) > max_tokens and keep > 1:
                    keep -= 1
                    text = enc.decode(ids[:keep])
                ids = enc.encode_ordinary(text)
            counts.append(len(ids))
        else:
            n = _estimate_tokens(text)
            if n > max_tokens:
                n_truncated += 1
                raw = text.encode("utf-8")[: max_tokens * BYTES_PER_TOKEN_ESTIMATE]
                text = raw.decode("utf-8", errors="ignore")  # drop a cut multi-byte char
                n = _estimate_tokens(text)
            counts.append(n)
        out.append(text)
    return out, counts, n_truncated


def plan_batches(
    token_counts: Sequence[int],
    *,
    max_inputs: int = MAX_INPUTS_PER_REQUEST,
    max_tokens: int = MAX_TOKENS_PER_REQUEST,
) -> list[range]:
    """Split inputs (in order) into requests of at most ``max_inputs`` inputs and ``max_tokens``.

    An input that alone exceeds ``max_tokens`` gets a request of its own.

    Args:
        token_counts: Tokens of each input, in order.
        max_inputs: Most inputs per request (the API allows 2,048).
        max_tokens: Most tokens summed over a request (the API allows 300,000).

    Returns:
        One ``range`` of input positions per request.

    Example:
        >>> [len(r) for r in plan_batches([1] * 5000)]
        [2048, 2048, 904]
        >>> [len(r) for r in plan_batches([8191] * 100)]
        [36, 36, 28]
    """
    if max_inputs < 1 or max_tokens < 1:
        raise InvalidInputError(
            f"max_inputs ({max_inputs}) and max_tokens ({max_tokens}) must be at least 1."
        )
    batches: list[range] = []
    start = 0
    total = 0
    for i, n in enumerate(token_counts):
        size = i - start
        if size and (size >= max_inputs or total + n > max_tokens):
            batches.append(range(start, i))
            start, total = i, 0
        total += n
    if start < len(token_counts):
        batches.append(range(start, len(token_counts)))
    return batches


# --------------------------------------------------------------------------- errors


_SECRET_PATTERN = re.compile(r"\b(sk|rk|org|proj|sess)-[A-Za-z0-9_\-*.]{3,}")


def _scrub(message: str) -> str:
    """Remove the API key (raw or masked, as in OpenAI's 401 message) from ``message``."""
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if key:
        message = message.replace(key, "<hidden>")
    message = _SECRET_PATTERN.sub("<hidden>", message)
    return message[:300]


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    msg = body.get("message") if isinstance(body, dict) else None
    return _scrub(str(msg)) if msg else ""


_OPTIONAL = "API models are optional: every lab also runs with the local models."


def _translate_error(exc: BaseException, embedder: OpenAIEmbedder) -> Exception | None:
    """Map an ``openai`` exception to a clear embedlab error (``None``: not ours to map)."""
    import openai

    attempts = embedder.max_retries + 1
    where = embedder.base_url
    if isinstance(exc, openai.AuthenticationError):
        return APIKeyError(
            f"The server at {where} rejected the API key in OPENAI_API_KEY (HTTP 401: wrong, "
            "revoked or incompletely copied key). Create a new key at "
            "https://platform.openai.com/api-keys, set it as OPENAI_API_KEY (in Colab: the "
            "key icon 'Secrets' in the left sidebar) and restart the runtime. The key is not "
            f"shown here. {_OPTIONAL}"
        )
    if isinstance(exc, openai.RateLimitError):
        code = getattr(exc, "code", None)
        if code == "insufficient_quota":
            return OpenAIRequestError(
                "OpenAI says this account has no quota left (HTTP 429 insufficient_quota). "
                "Add credit or raise the budget at https://platform.openai.com/settings/"
                f"organization/billing; retrying will not help. {_OPTIONAL}",
                status_code=429,
            )
        return OpenAIRequestError(
            f"Still rate limited (HTTP 429) after {attempts} attempt(s). Wait a minute and "
            "run the cell again, embed fewer texts at a time (smaller batch_size), or raise "
            "max_retries. Batches already embedded in this call are lost: cache results so "
            "you do not pay twice.",
            status_code=429,
        )
    if isinstance(exc, openai.APITimeoutError):
        return OpenAIRequestError(
            f"The request to {where} timed out after {embedder.timeout:g} s, {attempts} "
            "attempt(s). Try again, use a smaller batch_size, or a larger timeout=.",
            status_code=None,
        )
    if isinstance(exc, openai.APIConnectionError):
        return OpenAIRequestError(
            f"Could not connect to {where} ({attempts} attempt(s)). Check your internet "
            "connection, and OPENAI_BASE_URL if you set it. " + _OPTIONAL,
            status_code=None,
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _api_message(exc)
        detail = f' The API said: "{detail}"' if detail else ""
        if status >= 500:
            return OpenAIRequestError(
                f"The embeddings server at {where} kept failing (HTTP {status}) after "
                f"{attempts} attempt(s).{detail} This is on the server's side: try again "
                "in a few minutes (see https://status.openai.com).",
                status_code=status,
            )
        if status == 403:
            hint = (
                "Your key's project may not have access to this model or region; check "
                "the project's model permissions at https://platform.openai.com/settings."
            )
        elif status == 404:
            hint = f"Check the model name ({embedder.model!r}) and OPENAI_BASE_URL."
        else:
            hint = "Check the inputs and arguments (model, dimensions) of this call."
        return OpenAIRequestError(
            f"The embeddings request was refused (HTTP {status}).{detail} {hint}",
            status_code=status,
        )
    return None


# --------------------------------------------------------------------------- the embedder


class OpenAIEmbedder:
    """An OpenAI embedding model with the sentence-transformers surface used in the course.

    ``encode``, ``encode_query``, ``encode_document``, ``similarity`` and
    ``get_sentence_embedding_dimension`` behave like on a ``SentenceTransformer``: a list of
    texts gives a float32 array of shape ``(n, d)``, a single string a vector of shape ``(d,)``.

    ``prompts`` is empty: text-embedding-3 models use no instruction prefixes, so
    ``encode_query`` and ``encode_document`` send the texts unchanged (they exist so that lab
    code written for asymmetric models runs as is).

    Args:
        model: ``"text-embedding-3-small"`` (1536 d), ``"text-embedding-3-large"`` (3072 d)
            or ``"text-embedding-ada-002"``. Other names are accepted only with a custom
            ``base_url`` (an OpenAI-compatible server).
        dimensions: Ask the API for shorter vectors (Matryoshka truncation, renormalised by
            the API); ``None`` for the native size. text-embedding-3 only.
        base_url: API address; default ``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``.
        max_retries: Retries of the ``openai`` client on 429, 5xx, timeouts and connection
            errors (exponential backoff, honouring ``Retry-After``).
        timeout: Seconds per request.
        batch_size: Most inputs per request (1 to 2,048).
        max_tokens_per_input: Longer inputs are truncated, with a warning (at most 8,191).
        max_tokens_per_request: Most tokens summed over one request (the API allows 300,000).

    Raises:
        APIKeyError: ``OPENAI_API_KEY`` is not set.
        InvalidInputError: An argument is out of range.
        UnknownModelError: An unknown model name with the official API.

    Attributes:
        usage_tokens: Tokens billed so far, as reported by the API.
        n_requests: HTTP requests that succeeded so far.

    Example:
        >>> model = OpenAIEmbedder("text-embedding-3-small", dimensions=256)  # doctest: +SKIP
        >>> model.encode(["a cat", "a dog"]).shape  # doctest: +SKIP
        (2, 256)
        >>> model  # doctest: +SKIP
        OpenAIEmbedder(model='text-embedding-3-small', dimensions=256, base_url='https://api.openai.com/v1')
    """  # noqa: E501

    similarity_fn_name = "cosine"

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        *,
        base_url: str | None = None,
        max_retries: int = 4,
        timeout: float = 30.0,
        batch_size: int = MAX_INPUTS_PER_REQUEST,
        max_tokens_per_input: int = MAX_TOKENS_PER_INPUT,
        max_tokens_per_request: int = MAX_TOKENS_PER_REQUEST,
    ) -> None:
        resolved_url = (
            base_url or os.environ.get("OPENAI_BASE_URL", "").strip() or OPENAI_DEFAULT_BASE_URL
        )
        if urlparse(resolved_url).scheme not in ("http", "https"):
            raise InvalidInputError(
                f"base_url must start with https:// (or http:// for a local server), got "
                f"{resolved_url!r}. Leave it unset to use {OPENAI_DEFAULT_BASE_URL}."
            )
        official = urlparse(resolved_url).hostname == "api.openai.com"
        if not isinstance(model, str) or not model.strip():
            raise InvalidInputError(
                f"model must be a model name such as 'text-embedding-3-small', got {model!r}."
            )
        info = _check_model_name(model) if official else MODELS.get(model)

        if dimensions is not None:
            if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
                raise InvalidInputError(
                    f"dimensions must be a positive integer (or None for the native size), "
                    f"got {dimensions!r}."
                )
            if info is not None and not info.supports_dimensions:
                raise InvalidInputError(
                    f"{model} does not support dimensions=; use a text-embedding-3 model "
                    "or dimensions=None."
                )
            if info is not None and dimensions > info.native_dims:
                raise InvalidInputError(
                    f"dimensions={dimensions} is larger than {model}'s {info.native_dims} "
                    f"dimensions. Pick a value from 1 to {info.native_dims}, e.g. 256 or 512."
                )
        _check_int("batch_size", batch_size, 1, MAX_INPUTS_PER_REQUEST)
        _check_int("max_tokens_per_input", max_tokens_per_input, 1, MAX_TOKENS_PER_INPUT)
        _check_int("max_tokens_per_request", max_tokens_per_request, 1, MAX_TOKENS_PER_REQUEST)
        _check_int("max_retries", max_retries, 0, 100)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise InvalidInputError(f"timeout must be a number of seconds > 0, got {timeout!r}.")
        if not _key_is_set():
            raise APIKeyError(
                "OPENAI_API_KEY is not set. To use OpenAI models, create a key at "
                "https://platform.openai.com/api-keys and put it in the environment "
                "variable OPENAI_API_KEY (in Colab: the key icon 'Secrets' in the left "
                "sidebar, then `os.environ['OPENAI_API_KEY'] = userdata.get('OPENAI_API_KEY')`)."
                f" {_OPTIONAL}"
            )
        if not _openai_importable():
            raise APIKeyError(
                "The openai package is not installed: pip install 'embedlab[openai]' and "
                f"restart the runtime. {_OPTIONAL}"
            )

        self.model = model
        self.dimensions = dimensions
        self.base_url = resolved_url
        self.max_retries = max_retries
        self.timeout = float(timeout)
        self.batch_size = batch_size
        self.max_tokens_per_input = max_tokens_per_input
        self.max_tokens_per_request = max_tokens_per_request
        self.prompts: dict[str, str] = {}  # text-embedding-3 uses no prompts
        self.default_prompt_name: str | None = None
        suffix = "" if dimensions is None else f"-d{dimensions}"
        self.name = f"openai/{model}{suffix}"
        self.model_card_name = self.name
        self.usage_tokens = 0
        self.n_requests = 0
        self._dim: int | None = dimensions or (info.native_dims if info else None)
        self._known_model = info is not None
        self._client: Any = None  # created on first use; holds the key, never pickled

    # ------------------------------------------------------------------ dunder

    def __repr__(self) -> str:
        return (
            f"OpenAIEmbedder(model={self.model!r}, dimensions={self.dimensions!r}, "
            f"base_url={self.base_url!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None  # the client carries the key
        return state

    # ------------------------------------------------------------ sentence-transformers surface

    @property
    def max_seq_length(self) -> int:
        """Longest input in tokens; longer inputs are truncated."""
        return self.max_tokens_per_input

    def get_embedding_dimension(self) -> int | None:
        """Size of the vectors (``None`` for an unknown model before its first call).

        Example:
            >>> OpenAIEmbedder("text-embedding-3-large").get_embedding_dimension()
            ... # doctest: +SKIP
            3072
        """
        return self._dim

    def get_sentence_embedding_dimension(self) -> int | None:
        """Alias of :meth:`get_embedding_dimension` (its name before sentence-transformers 6).

        Example:
            >>> OpenAIEmbedder("text-embedding-3-small", 256).get_sentence_embedding_dimension()
            ... # doctest: +SKIP
            256
        """
        return self._dim

    def encode_query(self, texts: str | Iterable[str], **kwargs: Any) -> Any:
        """Embed search queries: :meth:`encode` with the ``"query"`` prompt if there is one.

        text-embedding-3 has no prompts, so queries are sent unchanged.

        Example:
            >>> model.encode_query("how to reset my password").shape  # doctest: +SKIP
            (1536,)
        """
        if "prompt" not in kwargs and "query" in self.prompts:
            kwargs.setdefault("prompt_name", "query")
        return self.encode(texts, **kwargs)

    def encode_document(self, texts: str | Iterable[str], **kwargs: Any) -> Any:
        """Embed documents: :meth:`encode` with the ``"document"`` prompt if there is one.

        text-embedding-3 has no prompts, so documents are sent unchanged.

        Example:
            >>> model.encode_document(["doc one", "doc two"]).shape  # doctest: +SKIP
            (2, 1536)
        """
        if "prompt" not in kwargs and "document" in self.prompts:
            kwargs.setdefault("prompt_name", "document")
        return self.encode(texts, **kwargs)

    def encode(
        self,
        texts: str | Iterable[str],
        normalize_embeddings: bool = True,
        *,
        batch_size: int | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        truncate_dim: int | None = None,
        show_progress_bar: bool | None = None,
        precision: str = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | None = None,
    ) -> Any:
        """Embed texts through the API.

        Args:
            texts: A string or a list of strings (non-empty).
            normalize_embeddings: Scale vectors to unit length (OpenAI's already are).
            batch_size: Inputs per request for this call (default: the embedder's).
            prompt_name: Key of :attr:`prompts` to prepend (there are none by default).
            prompt: A text to prepend to every input.
            truncate_dim: Keep only the first ``truncate_dim`` dimensions (done locally,
                before normalisation; ``dimensions=`` asks the API to do it instead).
            show_progress_bar: Show a progress bar over requests.
            precision: Only ``"float32"``; quantise afterwards if you need int8/binary.
            convert_to_numpy: Accepted for compatibility; results are numpy arrays.
            convert_to_tensor: Return a ``torch.Tensor`` instead.
            device: Accepted for compatibility and ignored (the API runs remotely).

        Returns:
            float32 array ``(n, d)``, or ``(d,)`` for a single string.

        Raises:
            InvalidInputError: Empty/None/non-string texts or a bad argument.
            APIKeyError: The key was rejected.
            OpenAIRequestError: The API kept failing or refused the request.

        Example:
            >>> model.encode(["first text", "second text"]).shape  # doctest: +SKIP
            (2, 1536)
        """
        del convert_to_numpy, device
        single = isinstance(texts, str)
        texts = check_texts(texts)
        if precision != "float32":
            raise InvalidInputError(
                f"precision={precision!r} is not supported by the OpenAI backend: it returns "
                "float32. Quantise the float32 result afterwards instead."
            )
        if truncate_dim is not None:
            _check_int("truncate_dim", truncate_dim, 1, self._dim or 1_000_000)
        if prompt_name is not None and prompt is None:
            if prompt_name not in self.prompts:
                raise InvalidInputError(
                    f"prompt_name={prompt_name!r} is not in this model's prompts "
                    f"({sorted(self.prompts) or 'none: text-embedding-3 uses no prompts'}). "
                    "Leave prompt_name unset."
                )
            prompt = self.prompts[prompt_name]
        if prompt:
            texts = [prompt + t for t in texts]
        size = self.batch_size if batch_size is None else batch_size
        _check_int("batch_size", size, 1, MAX_INPUTS_PER_REQUEST)

        texts, counts, n_truncated = _truncate(texts, self.max_tokens_per_input)
        if n_truncated:
            how = "" if _get_encoding() is not None else " (estimated: tiktoken not available)"
            warnings.warn(
                f"{n_truncated} of {len(texts)} input(s) were longer than "
                f"{self.max_tokens_per_input} tokens{how} and were truncated to fit; their "
                "ends are not represented in the embeddings. Split long documents into "
                "chunks to embed all of their text.",
                UserWarning,
                stacklevel=2,
            )

        batches = plan_batches(counts, max_inputs=size, max_tokens=self.max_tokens_per_request)
        if show_progress_bar and len(batches) > 1:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc=f"{self.model} requests")
        parts = [self._embed_batch(texts[b.start : b.stop]) for b in batches]
        out = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        if truncate_dim is not None:
            out = out[:, :truncate_dim]
        if normalize_embeddings:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = out / np.where(norms == 0, 1.0, norms)
        out = np.ascontiguousarray(out, dtype=np.float32)
        if single:
            out = out[0]
        if convert_to_tensor:
            import torch

            return torch.from_numpy(out)
        return out

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Cosine similarity matrix, exactly like ``sentence_transformers.util.cos_sim``.

        Returns:
            A ``torch.Tensor`` of shape ``(len(embeddings1), len(embeddings2))``.

        Example:
            >>> model.similarity(model.encode("cat"), model.encode(["cat", "car"]))
            ... # doctest: +SKIP
            tensor([[1.0000, 0.4012]])
        """
        from sentence_transformers.util import cos_sim

        return cos_sim(embeddings1, embeddings2)

    # ------------------------------------------------------------------ requests

    def _get_client(self) -> Any:
        if self._client is None:
            if not _key_is_set():
                raise APIKeyError(
                    "OPENAI_API_KEY is no longer set in this process. Set it again (in "
                    f"Colab: the key icon 'Secrets'). {_OPTIONAL}"
                )
            from openai import OpenAI

            # No api_key argument: the client reads OPENAI_API_KEY from the environment.
            self._client = OpenAI(
                base_url=self.base_url, max_retries=self.max_retries, timeout=self.timeout
            )
        return self._client

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        import openai

        client = self._get_client()
        extra: dict[str, Any] = {}
        if self.dimensions is not None:
            extra["dimensions"] = self.dimensions
        error: Exception | None = None
        try:
            response = client.embeddings.create(
                input=batch, model=self.model, encoding_format="base64", **extra
            )
        except openai.OpenAIError as exc:
            error = _translate_error(exc, self)
            if error is None:
                error = OpenAIRequestError(
                    f"The embeddings request failed ({type(exc).__name__}: "
                    f"{_scrub(str(exc))}). Try again; if it persists, report it."
                )
        if error is not None:
            # Raised outside the except block: the openai exception (whose request holds the
            # Authorization header) is not chained into the traceback.
            raise error

        items = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in items] != list(range(len(batch))):
            raise OpenAIRequestError(
                f"The server answered {len(items)} embeddings for {len(batch)} inputs "
                "(indices do not match). Try again; check OPENAI_BASE_URL if you set it."
            )
        vectors = np.stack([_decode_vector(item.embedding) for item in items])
        if self._dim is None:
            self._dim = vectors.shape[1]
        elif vectors.shape[1] != self._dim:
            raise OpenAIRequestError(
                f"The server returned {vectors.shape[1]}-dimensional vectors for {self.model}, "
                f"expected {self._dim}. Check OPENAI_BASE_URL points to a server that serves "
                "this model."
            )
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.usage_tokens += int(getattr(usage, "total_tokens", 0) or 0)
        self.n_requests += 1
        return vectors


def _decode_vector(embedding: Any) -> np.ndarray:
    """A vector from the API: base64 of little-endian float32, or a list of floats."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4").astype(np.float32)
    return np.asarray(embedding, dtype=np.float32)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be an integer from {low} to {high}, got {value!r}.")

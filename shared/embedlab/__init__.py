"""embedlab: the plumbing of the "Embeddings Deep Dive" course.

Offline model loading, the course data, checks for the exercises, plots and an embedding
cache. The labs teach sentence-transformers, NumPy and scikit-learn themselves; this package
only does what they would make you repeat. Names load lazily: ``import embedlab`` is fast
and imports neither torch nor sentence-transformers until a model is needed.

>>> import embedlab
>>> embedlab.COURSE_MODELS
('all-MiniLM-L6-v2', 'all-mpnet-base-v2', 'static-MiniLM-L6-v2-256d')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    # models.py: load any course model, online or offline
    "load_model": "models", "model_info": "models", "catalog_table": "models",
    "COURSE_MODELS": "models", "device_info": "models",
    # embeddings.py: tagged vectors, compared safely
    "embed": "embeddings", "Embeddings": "embeddings", "normalize": "embeddings",
    "similarity": "embeddings",
    # cache.py: one disk cache, incremental indexing
    "EmbeddingCache": "cache", "IncrementalIndex": "cache",
    # data.py: Lab 1 sentences, BEIR retrieval sets
    "load_sentences": "data", "sentence_pairs": "data", "load_beir": "data",
    "load_course_retrieval": "data",
    # retrieval.py: search, trec_eval metrics, significance
    "search": "retrieval", "evaluate_run": "retrieval", "evaluate_model": "retrieval",
    "paired_bootstrap": "retrieval",
    # timing.py: latency and throughput
    "measure_latency": "timing", "batch_sweep": "timing", "knee": "timing",
    # quantization.py: smaller indexes
    "quantized_search": "quantization", "truncate_and_normalize": "quantization",
    "memory_footprint": "quantization",
    # openai_api.py: optional API models
    "skip_unless_openai": "openai_api",
    # errors.py
    "EmbedlabError": "errors", "InvalidInputError": "errors", "ModelNotAvailableError": "errors",
    "IncompatibleEmbeddingsError": "errors", "NotNormalizedError": "errors",
}  # fmt: skip
_MODULES = ("checks", "plots", "playground", "lab2", "models", "embeddings", "cache", "data",
            "retrieval", "timing", "quantization", "openai_api", "errors")  # fmt: skip
__all__ = [*_EXPORTS, "checks", "plots"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"embedlab.{_EXPORTS[name]}"), name)
    elif name in _MODULES:
        value = importlib.import_module(f"embedlab.{name}")
    else:
        raise AttributeError(f"module 'embedlab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for editors and type checkers; at run time the names load lazily
    from embedlab import checks, plots
    from embedlab.cache import EmbeddingCache, IncrementalIndex
    from embedlab.data import (
        load_beir,
        load_course_retrieval,
        load_sentences,
        sentence_pairs,
    )
    from embedlab.embeddings import Embeddings, embed, normalize, similarity
    from embedlab.errors import (
        EmbedlabError,
        IncompatibleEmbeddingsError,
        InvalidInputError,
        ModelNotAvailableError,
        NotNormalizedError,
    )
    from embedlab.models import (
        COURSE_MODELS,
        catalog_table,
        device_info,
        load_model,
        model_info,
    )
    from embedlab.openai_api import skip_unless_openai
    from embedlab.quantization import (
        memory_footprint,
        quantized_search,
        truncate_and_normalize,
    )
    from embedlab.retrieval import (
        evaluate_model,
        evaluate_run,
        paired_bootstrap,
        search,
    )
    from embedlab.timing import batch_sweep, knee, measure_latency

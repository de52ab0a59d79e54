"""embedlab: the plumbing of the "Embeddings Deep Dive" course.

Offline model loading, the course data, embedding with a cache, retrieval metrics, timing,
quantization and plots. The labs teach sentence-transformers, NumPy and scikit-learn
themselves; this package only does what they would make you repeat. Each lab's checks,
hints and lab-only helpers live in its own module: ``from embedlab.labs import lab1``.
``import embedlab`` is fast: torch and sentence-transformers load with the first model.

>>> import embedlab
>>> embedlab.COURSE_MODELS
('all-MiniLM-L6-v2', 'all-mpnet-base-v2', 'static-MiniLM-L6-v2-256d')
"""

import importlib.metadata as _metadata

from embedlab import labs, plots
from embedlab.cache import EmbeddingCache, IncrementalIndex
from embedlab.data import (
    BeirDataset,
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
from embedlab.models import COURSE_MODELS, catalog_table, device_info, load_model, model_info
from embedlab.openai_api import skip_unless_openai
from embedlab.quantization import memory_footprint, quantized_search, truncate_and_normalize
from embedlab.retrieval import evaluate_model, evaluate_run, paired_bootstrap, search
from embedlab.timing import batch_sweep, knee, measure_latency

try:
    __version__ = _metadata.version("embedlab")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    # models.py: load any course model, online or offline; where it came from
    "COURSE_MODELS",
    "catalog_table",
    "device_info",
    "load_model",
    "model_info",
    # embeddings.py: tagged vectors, compared safely
    "Embeddings",
    "embed",
    "normalize",
    "similarity",
    # cache.py: one disk cache, incremental indexing
    "EmbeddingCache",
    "IncrementalIndex",
    # data.py: Lab 1 sentences, BEIR retrieval sets
    "BeirDataset",
    "load_beir",
    "load_course_retrieval",
    "load_sentences",
    "sentence_pairs",
    # retrieval.py: search, trec_eval metrics, significance
    "evaluate_model",
    "evaluate_run",
    "paired_bootstrap",
    "search",
    # timing.py: latency and throughput
    "batch_sweep",
    "knee",
    "measure_latency",
    # quantization.py: smaller indexes
    "memory_footprint",
    "quantized_search",
    "truncate_and_normalize",
    # openai_api.py: optional API models
    "skip_unless_openai",
    # errors.py
    "EmbedlabError",
    "IncompatibleEmbeddingsError",
    "InvalidInputError",
    "ModelNotAvailableError",
    "NotNormalizedError",
    # the labs' figures, and each lab's own module (checks, hints, lab-only helpers)
    "plots",
    "labs",
]

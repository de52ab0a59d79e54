"""embedlab: helpers for the "Embeddings Deep Dive" course labs.

Example:
    >>> import embedlab
    >>> model = embedlab.load_model("all-MiniLM-L6-v2")
    >>> vectors = embedlab.embed(model, ["Where is my parcel?", "Track my order"])
    >>> embedlab.similarity(vectors).round(2)
    # array([[1.  , 0.62],
    #        [0.62, 1.  ]], dtype=float32)
"""

from __future__ import annotations

from embedlab import checks
from embedlab._paths import cache_dir
from embedlab._validate import check_texts
from embedlab.cache import (
    CacheStats,
    EmbeddingCache,
    EmbeddingSpec,
    IncrementalIndex,
    UpdateReport,
    cached_encode,
    model_encoder,
)
from embedlab.catalog import CATALOG, COURSE_MODELS, ModelSpec, catalog_table, get_spec
from embedlab.datasets import (
    BeirDataset,
    course_retrieval_path,
    hard_negative_pairs,
    load_beir,
    load_course_retrieval,
    load_sentences,
    paraphrase_pairs,
)
from embedlab.decision import (
    DEFAULT_RULE,
    CachedModel,
    DecisionRecord,
    api_costs,
    decision_record,
    model_table,
    query_metadata,
)
from embedlab.device import device_info, pick_device
from embedlab.embeddings import (
    Embeddings,
    embed,
    is_normalized,
    model_name_of,
    normalize,
    without_normalize,
)
from embedlab.errors import (
    APIKeyError,
    CacheError,
    DatasetFormatError,
    EmbedlabError,
    IncompatibleEmbeddingsError,
    InvalidInputError,
    ModelNotAvailableError,
    NotNormalizedError,
    UnknownModelError,
)
from embedlab.loading import hub_reachable, load_model, model_info
from embedlab.openai_backend import (
    PRICES_AS_OF,
    CostEstimate,
    OpenAIEmbedder,
    OpenAIRequestError,
    estimate_cost,
    openai_available,
    skip_unless_openai,
)
from embedlab.quantization import (
    calibration_ranges,
    compare_precisions,
    compare_truncation,
    memory_footprint,
    quantize,
    quantized_search,
    truncate_and_normalize,
)
from embedlab.retrieval import (
    RetrievalScores,
    evaluate_model,
    evaluate_run,
    paired_bootstrap,
    paired_permutation_test,
    precision_recall_curve,
    search,
    wins_losses,
)
from embedlab.similarity import (
    check_compatible,
    rank_agreement,
    require_normalized,
    similarity,
    top_pairs,
    upper_triangle,
)
from embedlab.timing import batch_sweep, knee, measure_latency, measure_throughput, percentiles
from embedlab.viz import default_perplexity, plot_similarity_heatmaps, plot_tsne, tsne_2d

__version__ = "0.1.0"

__all__ = [
    # loading.py, catalog.py, device.py
    "load_model",
    "model_info",
    "hub_reachable",
    "CATALOG",
    "COURSE_MODELS",
    "ModelSpec",
    "catalog_table",
    "get_spec",
    "pick_device",
    "device_info",
    "cache_dir",
    # datasets.py
    "load_sentences",
    "paraphrase_pairs",
    "hard_negative_pairs",
    "BeirDataset",
    "load_beir",
    "load_course_retrieval",
    "course_retrieval_path",
    "query_metadata",
    # decision.py
    "CachedModel",
    "model_table",
    "api_costs",
    "DecisionRecord",
    "decision_record",
    "DEFAULT_RULE",
    # embeddings.py, similarity.py
    "Embeddings",
    "embed",
    "normalize",
    "is_normalized",
    "model_name_of",
    "without_normalize",
    "check_texts",
    "similarity",
    "check_compatible",
    "require_normalized",
    "rank_agreement",
    "top_pairs",
    "upper_triangle",
    # cache.py
    "EmbeddingCache",
    "EmbeddingSpec",
    "CacheStats",
    "cached_encode",
    "model_encoder",
    "IncrementalIndex",
    "UpdateReport",
    # quantization.py
    "memory_footprint",
    "calibration_ranges",
    "quantize",
    "quantized_search",
    "truncate_and_normalize",
    "compare_precisions",
    "compare_truncation",
    # retrieval.py
    "search",
    "evaluate_run",
    "evaluate_model",
    "RetrievalScores",
    "precision_recall_curve",
    "paired_bootstrap",
    "paired_permutation_test",
    "wins_losses",
    # openai_backend.py
    "OpenAIEmbedder",
    "OpenAIRequestError",
    "CostEstimate",
    "estimate_cost",
    "openai_available",
    "skip_unless_openai",
    "PRICES_AS_OF",
    # timing.py
    "measure_latency",
    "measure_throughput",
    "batch_sweep",
    "knee",
    "percentiles",
    # viz.py
    "plot_similarity_heatmaps",
    "plot_tsne",
    "tsne_2d",
    "default_perplexity",
    # errors.py
    "EmbedlabError",
    "InvalidInputError",
    "UnknownModelError",
    "ModelNotAvailableError",
    "IncompatibleEmbeddingsError",
    "NotNormalizedError",
    "DatasetFormatError",
    "CacheError",
    "APIKeyError",
    # checks/
    "checks",
]

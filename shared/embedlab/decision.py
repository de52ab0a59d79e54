"""Lab 2 helpers: query metadata, a caching model wrapper, the comparison table, and the
decision record that turns this run's measurements into a short markdown document.

The decision record is the end product of a model-selection study: which model, under which
rule, backed by which numbers, pinned to which weights. Every number in it comes from the
inputs (nothing is typed by hand), so it can be regenerated when the data or the models change.

Example:
    >>> table = model_table(results, latency, sweeps, dims)          # doctest: +SKIP
    >>> record = decision_record(table, "all-MiniLM-L6-v2", budget_ms=30,
    ...                          models=models, dataset=ds)         # doctest: +SKIP
    >>> record.save("outputs/decision_record.md")                   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embedlab.errors import DatasetFormatError, InvalidInputError
from embedlab.quantization import _human_bytes

__all__ = [
    "DEFAULT_RULE",
    "QUALITY_METRICS",
    "query_metadata",
    "CachedModel",
    "model_table",
    "api_costs",
    "DecisionRecord",
    "decision_record",
]

#: The selection rule that :func:`embedlab.checks.lab2.step_d` verifies.
DEFAULT_RULE = (
    "highest {metric} among the models whose p95 single-query latency is within the budget; "
    "exact ties go to the higher throughput; no model if none is within the budget"
)

#: Quality columns of :func:`model_table`, in display order.
QUALITY_METRICS: tuple[str, ...] = ("nDCG@10", "MRR@10", "R@10", "P@10", "MAP")

_MEMORY_DOCS = 1_000_000


# --------------------------------------------------------------------------- query metadata


def query_metadata(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The extra fields of each query in a BEIR ``queries.jsonl`` (e.g. ``type``, ``topic``).

    :func:`embedlab.load_beir` keeps only ``_id`` and ``text``; this reads the other fields,
    so scores can be broken down by query type.

    Args:
        path: A BEIR folder or its ``queries.jsonl``; ``None`` reads the course retrieval set.

    Returns:
        A DataFrame indexed by ``query_id`` (strings, file order), one column per extra
        field; a query without a field gets ``""``.

    Raises:
        DatasetFormatError: The file is missing or a line is not a JSON object with ``_id``.

    Example:
        >>> query_metadata()["type"].value_counts().to_dict()  # doctest: +SKIP
        {'paraphrase': 42, 'hard_negative': 32, 'keyword': 22}
    """
    if path is None:
        from embedlab.datasets import course_retrieval_path

        path = course_retrieval_path()
    file = Path(path)
    if file.is_dir():
        file = file / "queries.jsonl"
    if not file.is_file():
        raise DatasetFormatError(
            f"{file}: no such file. Pass a BEIR folder (with queries.jsonl) or the file itself."
        )
    rows: list[dict[str, Any]] = []
    with open(file, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetFormatError(
                    f"{file}, line {number}: not valid JSON ({exc.msg})."
                ) from None
            if not isinstance(record, dict) or "_id" not in record:
                raise DatasetFormatError(
                    f"{file}, line {number}: expected a JSON object with an '_id' field."
                )
            extra = {k: v for k, v in record.items() if k not in ("_id", "text")}
            rows.append({"query_id": str(record["_id"]).strip(), **extra})
    if not rows:
        raise DatasetFormatError(f"{file}: the file contains no queries.")
    table = pd.DataFrame(rows).set_index("query_id")
    return table.fillna("")


# --------------------------------------------------------------------------- caching wrapper


class CachedModel:
    """A model whose ``encode_query`` / ``encode_document`` go through an embedding cache.

    Pass it wherever the model goes (e.g. :func:`embedlab.evaluate_model`): the first run
    embeds and stores every text, later runs read the vectors back instead of running the
    model. Every other attribute is the wrapped model's. The cache key covers the model name,
    its weights hash, the prompt and the normalisation (:class:`embedlab.EmbeddingSpec`), so
    another model or a fine-tuned version never reuses these vectors.

    Calls with options the key does not cover (``prompt_name``, ``truncate_dim``,
    ``precision``...) go straight to the model, uncached.

    Args:
        model: A model from :func:`embedlab.load_model`.
        cache: An :class:`embedlab.EmbeddingCache`; default: one at the default path.
        model_id: Name used in the cache key (default: the model's course name).

    Attributes:
        embedded: How many texts were sent to the model so far (cache misses).

    Example:
        >>> fast = CachedModel(model)                                  # doctest: +SKIP
        >>> scores = embedlab.evaluate_model(fast, dataset)            # doctest: +SKIP
        >>> fast.embedded   # 0 on the second run                      # doctest: +SKIP
    """

    _PASSTHROUGH = {"batch_size", "show_progress_bar", "convert_to_numpy", "convert_to_tensor"}

    def __init__(self, model: Any, cache: Any = None, *, model_id: str | None = None) -> None:
        from embedlab.cache import EmbeddingCache
        from embedlab.embeddings import model_name_of

        for method in ("encode_query", "encode_document"):
            if not callable(getattr(model, method, None)):
                raise InvalidInputError(
                    f"{type(model).__name__} has no {method}() method: pass a model from "
                    "embedlab.load_model()."
                )
        if isinstance(model, CachedModel):
            model = model.model
        self.model = model
        self.cache = EmbeddingCache() if cache is None else cache
        self.model_id = model_id or model_name_of(model)
        self.embedded = 0
        self._specs: dict[tuple[str, bool], Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name == "model":  # not set yet (during unpickling): avoid infinite recursion
            raise AttributeError(name)
        return getattr(self.model, name)

    def __repr__(self) -> str:
        return f"CachedModel({self.model_id!r}, cache={str(self.cache.path)!r})"

    def _revision(self) -> str | None:
        info = getattr(self.model, "embedlab_info", None) or {}
        sha = info.get("weights_sha256")
        return f"sha256:{sha}" if sha else None  # None: EmbeddingSpec hashes the tensors

    def _spec(self, kind: str, normalize: bool) -> Any:
        from embedlab.cache import EmbeddingSpec

        key = (kind, normalize)
        if key not in self._specs:
            self._specs[key] = EmbeddingSpec.from_model(
                self.model,
                kind,
                normalize=normalize,
                model_id=self.model_id,
                revision=self._revision(),
            )
        return self._specs[key]

    def _encode(self, kind: str, sentences: Any, **kwargs: Any) -> Any:
        method = getattr(self.model, f"encode_{kind}")
        normalize = bool(kwargs.pop("normalize_embeddings", False))
        if set(kwargs) - self._PASSTHROUGH:  # options the cache key does not describe
            return method(sentences, normalize_embeddings=normalize, **kwargs)
        from embedlab.cache import cached_encode

        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        batch_size = kwargs.get("batch_size", 32)
        progress = kwargs.get("show_progress_bar", False)

        def encode_fn(batch: list[str]) -> np.ndarray:
            self.embedded += len(batch)
            out = method(
                batch,
                batch_size=batch_size,
                show_progress_bar=progress,
                normalize_embeddings=normalize,
                convert_to_numpy=True,
            )
            return np.asarray(out, dtype=np.float32)

        vectors = cached_encode(encode_fn, texts, self._spec(kind, normalize), self.cache)
        vectors = np.asarray(vectors, dtype=np.float32)
        if single:
            vectors = vectors[0]
        if kwargs.get("convert_to_tensor"):
            import torch

            return torch.from_numpy(np.ascontiguousarray(vectors))
        return vectors

    def encode_query(self, sentences: Any, **kwargs: Any) -> Any:
        """``model.encode_query`` through the cache (same arguments and return types)."""
        return self._encode("query", sentences, **kwargs)

    def encode_document(self, sentences: Any, **kwargs: Any) -> Any:
        """``model.encode_document`` through the cache (same arguments and return types)."""
        return self._encode("document", sentences, **kwargs)


# --------------------------------------------------------------------------- the table


def _positive_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InvalidInputError(f"{what} must be a finite number, got {value!r}.")
    if value <= 0:
        raise InvalidInputError(f"{what} must be positive, got {value!r}.")
    return float(value)


def _summary_of(result: Any, name: str) -> Mapping[str, float]:
    summary = getattr(result, "summary", result)
    if not isinstance(summary, Mapping):
        raise InvalidInputError(
            f"results[{name!r}] is a {type(result).__name__}; pass the RetrievalScores from "
            "evaluate_model (or its .summary dict)."
        )
    return summary


def _best_throughput(value: Any, name: str) -> tuple[float, int | None]:
    """(texts per second, batch size) from a batch_sweep table, a measure_throughput dict
    or a number."""
    if isinstance(value, pd.DataFrame):
        if "texts_per_s" not in value.columns or value.empty:
            raise InvalidInputError(
                f"throughput[{name!r}] has no 'texts_per_s' column: pass embedlab.batch_sweep()."
            )
        best = value["texts_per_s"].idxmax()
        return float(value.loc[best, "texts_per_s"]), int(best)
    if isinstance(value, Mapping):
        if "texts_per_s" not in value:
            raise InvalidInputError(
                f"throughput[{name!r}] has no 'texts_per_s': pass embedlab.measure_throughput()."
            )
        bs = value.get("batch_size")
        return _positive_number(value["texts_per_s"], f"throughput[{name!r}]"), bs
    return _positive_number(value, f"throughput[{name!r}]"), None


def model_table(
    results: Mapping[str, Any],
    latency: Mapping[str, Mapping[str, float]],
    throughput: Mapping[str, Any],
    dims: Mapping[str, int],
    *,
    n_docs: int = _MEMORY_DOCS,
) -> pd.DataFrame:
    """One row per model: quality, speed and index memory, from this run's measurements.

    Args:
        results: ``{model: RetrievalScores}`` from :func:`embedlab.evaluate_model`.
        latency: ``{model: measure_latency(...)}`` (``p50_ms``, ``p95_ms``).
        throughput: ``{model: batch_sweep(...)}`` (the best batch size is used), or a
            ``measure_throughput`` dict, or texts per second.
        dims: ``{model: embedding dimensions}``.
        n_docs: Index size for the memory columns.

    Returns:
        Columns ``nDCG@10``, ``MRR@10``, ``R@10``, ``P@10``, ``MAP`` (those present),
        ``p50_ms``, ``p95_ms``, ``texts_per_s``, ``best_batch``, ``dims`` and the index size
        for ``n_docs`` vectors in bytes: ``float32_bytes``, ``int8_bytes``, ``binary_bytes``
        (:func:`embedlab.memory_footprint`).

    Raises:
        InvalidInputError: A model is missing from one of the inputs.
    """
    from embedlab.quantization import memory_footprint

    names = list(results)
    if not names:
        raise InvalidInputError("results is empty: evaluate at least one model.")
    for what, mapping in (("latency", latency), ("throughput", throughput), ("dims", dims)):
        missing = [n for n in names if n not in mapping]
        if missing:
            raise InvalidInputError(
                f"{what} has no entry for {missing}: measure every model in results."
            )
    rows = []
    for name in names:
        summary = _summary_of(results[name], name)
        lat = latency[name]
        if "p95_ms" not in lat:
            raise InvalidInputError(
                f"latency[{name!r}] has no 'p95_ms': pass embedlab.measure_latency()."
            )
        tps, batch = _best_throughput(throughput[name], name)
        d = int(dims[name])
        memory = memory_footprint(n_docs, d)["total_bytes"]
        row: dict[str, Any] = {"model": name}
        row.update({m: float(summary[m]) for m in QUALITY_METRICS if m in summary})
        row.update(
            {
                "p50_ms": float(lat.get("p50_ms", float("nan"))),
                "p95_ms": float(lat["p95_ms"]),
                "texts_per_s": tps,
                "best_batch": batch,
                "dims": d,
                "float32_bytes": int(memory["float32"]),
                "int8_bytes": int(memory["int8"]),
                "binary_bytes": int(memory["binary"]),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def api_costs(texts: Sequence[str] | None = None) -> pd.DataFrame:
    """Price and size of the OpenAI embedding models in the catalogue.

    Args:
        texts: Optional corpus: adds what embedding it once would cost.

    Returns:
        One row per API model: ``dims``, ``usd_per_1M_tokens``, ``price_date``,
        ``float32_bytes_1M`` (index of 1M vectors at native size) and, with ``texts``,
        ``corpus_tokens`` and ``corpus_usd``.
    """
    from embedlab.catalog import CATALOG
    from embedlab.openai_backend import MODELS, PRICES_AS_OF, estimate_cost

    rows = []
    for name, spec in CATALOG.items():
        if spec.kind != "api" or name not in MODELS:
            continue
        row: dict[str, Any] = {
            "model": name,
            "dims": spec.dims,
            "usd_per_1M_tokens": MODELS[name].price_per_million,
            "price_date": PRICES_AS_OF,
            "float32_bytes_1M": 4 * spec.dims * _MEMORY_DOCS,
        }
        if texts is not None:
            cost = estimate_cost(list(texts), name)
            row["corpus_tokens"] = cost.tokens
            row["corpus_usd"] = cost.usd
            row["tokens_counted_exactly"] = cost.exact
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


# --------------------------------------------------------------------------- the record


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("embedlab")
    except Exception:  # not installed as a distribution (e.g. a sys.path checkout)
        import embedlab

        return str(getattr(embedlab, "__version__", "unknown"))


def _provenance(models: Mapping[str, Any] | None, names: Sequence[str]) -> dict[str, dict]:
    from embedlab.catalog import get_spec

    out: dict[str, dict] = {}
    for name in names:
        info: Mapping[str, Any] = {}
        if models is not None and name in models:
            model = models[name]
            model = getattr(model, "model", model) if isinstance(model, CachedModel) else model
            info = getattr(model, "embedlab_info", None) or {}
        spec = get_spec(name)
        out[name] = {
            "source": info.get("source", ""),
            "revision": info.get("revision") or (spec.revision if spec else None),
            "weights_sha256": info.get("weights_sha256"),
        }
    return out


def _pin(prov: Mapping[str, Any]) -> str:
    parts = []
    if prov.get("revision"):
        parts.append(f"revision `{prov['revision']}`")
    if prov.get("weights_sha256"):
        parts.append(f"weights sha256 `{prov['weights_sha256'][:12]}`")
    return ", ".join(parts) if parts else "no revision recorded"


@dataclass
class DecisionRecord:
    """A model decision and the evidence behind it; ``markdown`` renders it.

    Attributes:
        chosen: The chosen model, or ``None`` when no model meets the budget.
        rule: The selection rule, in words.
        metric: The quality metric the rule uses.
        budget_ms: The p95 single-query latency budget in milliseconds.
        table: :func:`model_table` (quality, latency, throughput, memory per model).
        api: :func:`api_costs` (the OpenAI alternatives and their prices).
        prices_as_of: The date the API prices were checked.
        provenance: ``{model: {"source", "revision", "weights_sha256"}}``.
        package_version: The embedlab version that produced the numbers.
        dataset: A one-line description of the test set.
        device: Where the latency was measured.
        significance: A sentence on whether the quality difference is significant.
        notes: Extra lines for the caveats section.
        created: ISO date of the record.
    """

    chosen: str | None
    rule: str
    metric: str
    budget_ms: float
    table: pd.DataFrame = field(repr=False)
    api: pd.DataFrame = field(repr=False)
    prices_as_of: str
    provenance: dict[str, dict] = field(repr=False)
    package_version: str
    dataset: str = ""
    device: str = ""
    significance: str | None = None
    notes: tuple[str, ...] = ()
    created: str = ""

    @property
    def markdown(self) -> str:
        """The record as a markdown document."""
        return self.to_markdown()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_markdown(self) -> str:
        t = self.table
        lines = [f"# Decision record: embedding model for {self.dataset or 'retrieval'}", ""]
        lines.append(
            f"*Generated on {self.created} by embedlab {self.package_version}"
            + (f" on {self.device}" if self.device else "")
            + ". Every number below was measured in the run that wrote this file.*"
        )
        lines += ["", "## Decision", ""]
        if self.chosen is None:
            lines.append(
                f"**No model meets the budget** (p95 <= {self.budget_ms:g} ms). Relax the "
                "budget, use faster hardware, or consider a smaller model."
            )
        else:
            prov = self.provenance.get(self.chosen, {})
            lines.append(f"**Chosen model: `{self.chosen}`** ({_pin(prov)}).")
        lines += [
            "",
            f"- Rule: {self.rule}.",
            f"- Latency budget: p95 <= {self.budget_ms:g} ms per single query.",
            f"- Quality metric: {self.metric}.",
        ]
        if self.significance:
            lines.append(f"- Is the quality difference real? {self.significance}")
        lines += ["", "## Quality and speed", ""]
        quality = [m for m in QUALITY_METRICS if m in t.columns]
        if self.metric in t.columns and self.metric not in quality:
            quality.insert(0, self.metric)
        header = ["model", *quality, "p50 ms", "p95 ms", "texts/s (best batch)", "within budget"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for name, row in t.iterrows():
            mark = " **(chosen)**" if name == self.chosen else ""
            batch = "" if pd.isna(row.get("best_batch")) else f" (batch {int(row['best_batch'])})"
            cells = [f"`{name}`{mark}", *(f"{row[m]:.3f}" for m in quality)]
            cells += [
                f"{row['p50_ms']:.1f}",
                f"{row['p95_ms']:.1f}",
                f"{row['texts_per_s']:.0f}{batch}",
                "yes" if row["p95_ms"] <= self.budget_ms else "no",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"## Index memory for {_MEMORY_DOCS:,} documents", ""]
        lines.append("| model | dims | float32 | int8 | binary |")
        lines.append("|---|---|---|---|---|")
        for name, row in t.iterrows():
            lines.append(
                f"| `{name}` | {int(row['dims'])} | {_human_bytes(row['float32_bytes'])} | "
                f"{_human_bytes(row['int8_bytes'])} | {_human_bytes(row['binary_bytes'])} |"
            )
        if not self.api.empty:
            lines += ["", f"## API alternatives (prices as of {self.prices_as_of})", ""]
            has_corpus = "corpus_usd" in self.api.columns
            head = "| model | dims | USD per 1M tokens | float32 index, 1M docs |"
            lines.append(head + (" this corpus once |" if has_corpus else ""))
            lines.append("|---|---|---|---|" + ("---|" if has_corpus else ""))
            for name, row in self.api.iterrows():
                line = (
                    f"| `{name}` | {int(row['dims'])} | ${row['usd_per_1M_tokens']:.3f} | "
                    f"{_human_bytes(row['float32_bytes_1M'])} |"
                )
                if has_corpus:
                    how = "" if row.get("tokens_counted_exactly", True) else ", estimated"
                    line += (
                        f" ${row['corpus_usd']:.5f} ({int(row['corpus_tokens']):,} tokens{how}) |"
                    )
                lines.append(line)
            lines.append("")
            lines.append(
                "API latency was not measured here (it is dominated by the network); quality "
                "must be measured on the same test set before an API model can be chosen."
            )
        lines += ["", "## Provenance", ""]
        lines.append("| model | source | pinned |")
        lines.append("|---|---|---|")
        for name in t.index:
            prov = self.provenance.get(name, {})
            lines.append(f"| `{name}` | {prov.get('source') or '-'} | {_pin(prov)} |")
        lines += ["", f"embedlab {self.package_version}; API prices as of {self.prices_as_of}."]
        lines += ["", "## Caveats", ""]
        lines.append(
            "- Latency depends on the hardware and its load: re-measure on the serving machine."
        )
        lines.append(
            "- A small test set leaves wide confidence intervals; re-run this study on queries "
            "and documents from your own application."
        )
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :attr:`markdown` to ``path`` (folders are created); return the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.to_markdown(), encoding="utf-8")
        return out


def decision_record(
    table: pd.DataFrame,
    chosen: str | None,
    *,
    budget_ms: float,
    rule: str | None = None,
    metric: str = "nDCG@10",
    models: Mapping[str, Any] | None = None,
    dataset: Any = None,
    significance: str | None = None,
    notes: Sequence[str] = (),
    device: str | None = None,
    corpus_texts: Sequence[str] | None = None,
) -> DecisionRecord:
    """Build the decision record of a model-selection study.

    Args:
        table: :func:`model_table` of this run.
        chosen: The chosen model (a row of ``table``), or ``None`` if none fits the budget.
        budget_ms: The p95 single-query latency budget, in milliseconds.
        rule: The rule in words; default :data:`DEFAULT_RULE` for ``metric``.
        metric: The quality column the rule maximises.
        models: ``{name: loaded model}``: their pinned revision and weights hash are recorded.
        dataset: The test set (its ``repr`` describes it in the title and caveats).
        significance: A sentence on the statistical test between the top models.
        notes: Extra caveats.
        device: Where latency was measured (default: :func:`embedlab.device_info`).
        corpus_texts: Texts to price with the API models (default: the dataset's documents).

    Returns:
        A :class:`DecisionRecord`; ``record.markdown`` is the document,
        ``record.save(path)`` writes it.

    Raises:
        InvalidInputError: ``chosen`` not in the table, a bad budget, metric or rule.
    """
    from embedlab.openai_backend import PRICES_AS_OF

    if not isinstance(table, pd.DataFrame) or table.empty:
        raise InvalidInputError("table must be the non-empty DataFrame from model_table().")
    needed = {"p95_ms", "texts_per_s", "dims", "float32_bytes", "int8_bytes", "binary_bytes"}
    missing = sorted(needed - set(table.columns))
    if missing:
        raise InvalidInputError(
            f"table lacks the column(s) {missing}: build it with model_table()."
        )
    if metric not in table.columns:
        raise InvalidInputError(
            f"metric {metric!r} is not a column of the table; use one of "
            f"{[m for m in QUALITY_METRICS if m in table.columns]}."
        )
    budget = _positive_number(budget_ms, "budget_ms")
    if chosen is not None and chosen not in table.index:
        raise InvalidInputError(
            f"chosen={chosen!r} is not a model of the table ({list(table.index)})."
        )
    if rule is None:
        rule = DEFAULT_RULE.format(metric=metric)
    if not isinstance(rule, str) or not rule.strip():
        raise InvalidInputError("rule must be a sentence describing how the model was chosen.")
    if device is None:
        try:
            from embedlab.device import device_info

            info = device_info()
            device = f"{info['device']} ({info['device_name']})"
        except Exception:  # pragma: no cover - device_info never fails in practice
            device = ""
    description = ""
    if dataset is not None:
        corpus = getattr(dataset, "corpus", None)
        queries = getattr(dataset, "queries", None)
        name = getattr(dataset, "name", "dataset")
        if corpus is not None and queries is not None:
            description = f"{name} ({len(corpus)} documents, {len(queries)} queries)"
        else:
            description = str(name)
        if corpus_texts is None and hasattr(dataset, "doc_texts"):
            corpus_texts = dataset.doc_texts()
    return DecisionRecord(
        chosen=chosen,
        rule=rule.strip().rstrip("."),
        metric=metric,
        budget_ms=budget,
        table=table.copy(),
        api=api_costs(corpus_texts),
        prices_as_of=PRICES_AS_OF,
        provenance=_provenance(models, list(table.index)),
        package_version=_package_version(),
        dataset=description,
        device=device or "",
        significance=significance,
        notes=tuple(notes),
        created=_dt.date.today().isoformat(),
    )

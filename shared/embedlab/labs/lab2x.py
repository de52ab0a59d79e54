"""Lab 2x "Optimise for production": checks, hints, review, and the lab's own helpers.

The notebook calls ``lab2x.check_a(binary, memory_ratio, doc_emb)`` (binary quantization)
and ``lab2x.check_b(docs_128, doc_emb, dims=128)`` (Matryoshka truncation). Each check
accepts any correct answer (sentence-transformers, NumPy, torch, the helper) and names a
wrong answer's mistake without giving the solution's numbers or code away.

The helpers only this lab uses: :func:`compare_precisions` and :func:`compare_truncation`
(the quality and memory tables), :func:`plot_precisions` and :func:`plot_truncation` (their
figures), and :func:`index_control` with :func:`index_setting` (the live control for class).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from embedlab.labs.base import Lab, Mistake, Question, as_array, as_number, given, same_number
from embedlab.quantization import bytes_per_vector, quantized_search, truncate_and_normalize
from embedlab.retrieval import evaluate_run, search

__all__ = [
    "LAB",
    "LEVEL",
    "MINUTES",
    "QUESTIONS",
    "TITLE",
    "answer",
    "check_a",
    "check_b",
    "compare_precisions",
    "compare_truncation",
    "hint",
    "index_control",
    "index_setting",
    "needs",
    "plot_precisions",
    "plot_truncation",
    "review",
    "warm",
]

TITLE = "Lab 2x · Optimise for production"
MINUTES = 30
LEVEL = "intermediate · optional"

HINTS = {
    "a": (
        "quantize_embeddings with precision='ubinary' keeps one bit per dimension (1 where "
        "the value is above 0) and packs 8 bits into each byte: one row of uint8 per "
        "document. memory_ratio is the bytes of one float32 vector divided by the bytes of "
        "one binary vector (every NumPy array has .nbytes; one row is enough)."
    ),
    "b": (
        "Slice the matrix: keep every row (document) and only the first 128 columns "
        "(dimensions). Then divide each row by its own length: np.linalg.norm along the "
        "rows, keeping that axis so the division broadcasts row by row."
    ),
}

QUESTIONS = [
    Question(
        "Why does rescoring recover most of the quality that binary search alone loses?",
        {
            "a": "It re-embeds the candidates in float32.",
            "b": "The binary index only has to put the right documents among 4x more "
            "candidates; the float32 query then re-ranks those.",
            "c": "It keeps a float32 copy of the index.",
        },
        "b",
        {
            "a": "Nothing is re-embedded: the documents stay binary. Only the query is float32.",
            "b": "Right: the cheap pass finds candidates; the float32 query re-ranks them.",
            "c": "No: the memory saving would be gone. The index holds only the binary codes.",
        },
    ),
    Question(
        "You cut MiniLM's vectors to 128 dimensions and keep the similarity threshold of "
        "0.5 set on the full vectors. What does re-normalising change?",
        {
            "a": "Nothing: a threshold depends only on the ranking.",
            "b": "It restores what the dropped dimensions held.",
            "c": "Cut vectors are shorter than 1, so their dot products shrink below the "
            "threshold; re-normalised, they are cosines again.",
        },
        "c",
        {
            "a": "No: a threshold compares raw scores with a fixed number. Cut only, no pair "
            "passed 0.5 here; re-normalised, as many as at full size or more.",
            "b": "No: what the dropped dimensions held is lost; re-normalising only rescales "
            "each row.",
            "c": "Right: a dot product shrinks with the vectors' lengths until you divide by "
            "them again (truncate_dim= alone does not).",
        },
    ),
    Question(
        "Why did MiniLM queries against mpnet documents score near a random ranking?",
        {
            "a": "384 dimensions are too few for mpnet.",
            "b": "Each model has its own vector space: dimension i means different things in each.",
            "c": "The helper scrambled the vectors.",
        },
        "b",
        {
            "a": "No: mpnet's own queries against its documents cut to 256 dimensions still "
            "scored far above chance.",
            "b": "Right: embed queries and documents with the same model.",
            "c": "No: the vectors are unchanged. Nothing checks plain arrays, which is why "
            "the mistake is dangerous.",
        },
    ),
    Question(
        "mpnet vs MiniLM on hard_negative queries gave a large p-value. It means:",
        {
            "a": "The models are equally good on them.",
            "b": "The models are probably equal on them.",
            "c": "A difference this large would be common if they were equally good: 32 "
            "queries cannot tell them apart.",
        },
        "c",
        {
            "a": "Not significant is not proof of equality: with 32 queries a small real "
            "difference can go unseen.",
            "b": "A p-value is not the probability that the models are equal: it assumes they "
            "are, and asks how surprising the data would be.",
            "c": "Right: the data fit no difference, and a small one too.",
        },
    ),
    Question(
        "Tomorrow 20 of the 383 documents are edited and 3 new ones are added. How many "
        "texts will update() embed?",
        {"a": "23", "b": "386", "c": "20"},
        "a",
        {
            "a": "Right: 20 changed and 3 new; the 363 others keep their vectors.",
            "b": "That is the common mistake: re-embedding the whole corpus, all 386 documents.",
            "c": "New documents have no vector yet: they are embedded too.",
        },
    ),
]

LAB = Lab("lab2x", HINTS, QUESTIONS)
hint, answer, review, needs = LAB.hint, LAB.answer, LAB.review, LAB.needs


# --------------------------------------------------------------------------- reading answers


def _document_vectors(doc_emb: Any) -> np.ndarray:
    """``doc_emb`` as the float unit rows the exercises start from, or a :class:`Mistake`."""
    overwritten = (
        "doc_emb is no longer the float document vectors the exercise starts from (one unit "
        "row per document): it was overwritten. Put your result in its own variable, run "
        "the cell that sets doc_emb again, then your cell."
    )
    try:
        arr = as_array(doc_emb, "doc_emb")
    except Mistake:
        raise Mistake(overwritten) from None
    if arr.ndim != 2 or 0 in arr.shape:
        raise Mistake(overwritten)
    if not np.allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-3):
        raise Mistake(overwritten)
    return arr


def _matrix(value: Any, name: str, what: str) -> np.ndarray:
    """``value`` as an array of numbers (any dtype kept), or a :class:`Mistake` naming it."""
    given(value, name)
    if isinstance(value, str | bytes | Mapping):
        raise Mistake(f"{name} is a {type(value).__name__}; it should be {what}.")
    if hasattr(value, "detach"):  # torch, on any device
        value = value.detach().cpu().numpy()
    elif hasattr(value, "to_numpy"):  # pandas
        value = value.to_numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.asarray([object()])
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise Mistake(f"{name} should be {what}, got a {type(value).__name__}.")
    if np.iscomplexobj(arr):
        raise Mistake(f"{name} holds complex numbers; it should be {what}.")
    return arr


def _number(value: Any, name: str) -> float:
    """One real number; a string gets a message that does not repeat it."""
    if isinstance(value, str | bytes):
        raise Mistake(f"{name} is text (a str): give the number itself, not a string.")
    if isinstance(value, Mapping):
        raise Mistake(f"{name} is a dict; it should be one number.")
    try:
        return as_number(value, name)
    except (TypeError, ValueError):  # e.g. a ragged list
        raise Mistake(f"{name} should be one number, got a {type(value).__name__}.") from None


# --------------------------------------------------------------------------- exercise a


def _binary_codes(binary: Any, floats: np.ndarray) -> None:
    """Raise a :class:`Mistake` unless ``binary`` holds the packed sign bits of ``floats``."""
    n, dims = floats.shape
    width = -(-dims // 8)
    codes = _matrix(binary, "binary", "the array that quantize_embeddings returns")
    bits = floats > 0
    if codes.ndim == 1:
        if codes.size == n * width:
            raise Mistake(
                "binary is one long row: the bits of all documents were packed together. "
                "Pack each document's bits separately, one row per document."
            )
        raise Mistake("binary is a single vector: quantize every document, one row each.")
    if codes.ndim != 2:
        raise Mistake(
            f"binary has shape {codes.shape}: it should be a matrix, one row per document."
        )
    if codes.shape == floats.shape:
        if codes.dtype == bool or np.array_equal(codes, bits):
            why = (
                "it holds one bit per byte (one True/False per dimension). Pack 8 bits "
                "into each byte, as precision='ubinary' does."
            )
        elif np.allclose(codes, floats, atol=1e-6):
            why = "it is still the float vectors: quantize them."
        elif codes.dtype in (np.int8, np.uint8):
            why = (
                "that is int8 quantization, one byte per dimension. Binary keeps one bit "
                "per dimension: precision='ubinary'."
            )
        else:
            why = "one number per dimension is not binary: keep one bit per dimension."
        raise Mistake(f"binary has one column per dimension of doc_emb: {why}")
    if codes.shape[0] != n:
        if codes.shape == (-(-n // 8), dims):
            raise Mistake(
                "binary packs 8 documents into each byte: the bits were packed down the "
                "columns. Pack along each row, so that each document keeps its own row."
            )
        raise Mistake(
            f"binary has {codes.shape[0]} rows but doc_emb has {n} documents: quantize all "
            "of them, one row per document."
        )
    if codes.shape[1] != width:
        raise Mistake(
            f"binary has {codes.shape[1]} columns: one bit per dimension of doc_emb, 8 bits "
            "packed into each byte, gives fewer. Quantize doc_emb itself with "
            "precision='ubinary'."
        )
    if codes.dtype == np.int8:  # precision="binary": the same bits, shifted by -128
        codes = codes.astype(np.int16) + 128
    right = np.packbits(bits, axis=1)
    if np.array_equal(codes, right):
        if codes.dtype.kind == "f":
            raise Mistake(
                "binary holds the right bits, but as floats (4 or 8 bytes each): keep the "
                "uint8 array that quantize_embeddings returns, one byte per 8 dimensions."
            )
        return
    if np.array_equal(codes, np.packbits(~bits, axis=1)):
        raise Mistake(
            "binary has the bits flipped: a bit is 1 where the float value is above 0, "
            "and 0 elsewhere."
        )
    if np.array_equal(codes, np.packbits(bits, axis=1, bitorder="little")):
        raise Mistake(
            "binary has the bits of each byte in reverse order: use the order "
            "quantize_embeddings (and np.packbits by default) uses."
        )
    raise Mistake(
        "binary has the right shape but not the bits of doc_emb: each bit is 1 where "
        "doc_emb's value is above 0. Quantize doc_emb itself with precision='ubinary'."
    )


def _memory_ratio(memory_ratio: Any, n: int, dims: int) -> float:
    """Raise a :class:`Mistake` unless ``memory_ratio`` is float32 bytes / binary bytes."""
    ratio = _number(memory_ratio, "memory_ratio")
    float_bytes, binary_bytes = bytes_per_vector(dims), bytes_per_vector(dims, "binary")
    want = float_bytes / binary_bytes
    if same_number(ratio, want, decimals=1):
        return want
    known = {
        1 / want: "it is upside down (binary divided by float32). The ratio says how many "
        "times smaller binary is: float32 bytes divided by binary bytes.",
        dims / binary_bytes: "a float32 number takes 4 bytes, not 1: count the bytes of a "
        "float32 vector, not its dimensions.",
        4.0: "that is what one byte per dimension saves (int8), or bytes divided by bits. "
        "Binary packs 8 dimensions into each byte.",
        1.0: "that is no saving at all: you divided a size by itself.",
        float(binary_bytes): "that is the size of one binary vector, not a ratio: divide the "
        "size of a float32 vector by it.",
        float(float_bytes): "that is the size of one float32 vector, not a ratio: divide it "
        "by the size of a binary vector.",
        want * n: "you divided the whole float32 matrix by one binary row: compare one "
        "vector with one vector (or a whole matrix with a whole matrix).",
        want / n: "you divided one float32 row by the whole binary matrix: compare one "
        "vector with one vector (or a whole matrix with a whole matrix).",
        8 * want: "you compared bits with bytes: count both sizes in bytes.",
    }
    why = next(
        (w for v, w in known.items() if same_number(ratio, v, decimals=None)),
        "It should be the bytes of one float32 vector divided by the bytes of one binary vector.",
    )
    raise Mistake(f"memory_ratio is not how many times smaller a binary vector is: {why}")


@LAB.check("a")
def check_a(binary: Any, memory_ratio: Any, doc_emb: Any) -> str:
    """Binary quantization of ``doc_emb`` (packed bits, one row per document) and how many
    times smaller than float32 it is."""
    floats = _document_vectors(doc_emb)
    n, dims = floats.shape
    _binary_codes(binary, floats)
    want = _memory_ratio(memory_ratio, n, dims)
    return (
        f"{dims} dimensions take {bytes_per_vector(dims, 'binary')} bytes per vector in "
        f"binary instead of {bytes_per_vector(dims)} in float32: {want:g}x less memory."
    )


# --------------------------------------------------------------------------- exercise b


def _not_unit(cut: np.ndarray, full: np.ndarray, dims: int) -> str:
    """Why the rows of ``cut`` (right shape) are not unit length: the likely mistake."""
    prefix = full[:, :dims]
    lengths = np.linalg.norm(prefix, axis=1, keepdims=True)
    if np.allclose(np.linalg.norm(cut, axis=0), 1.0, atol=1e-3):
        return (
            "you normalised each column (dimension). Divide each row (document) by its own "
            "length instead."
        )
    if np.allclose(cut, prefix, atol=1e-4):
        return (
            "you cut but did not re-normalise (truncate_dim= alone does the same): the cut "
            "rows are shorter than 1, so their dot product is no longer their cosine. "
            "Divide each row by its own length."
        )
    if np.allclose(cut, prefix / np.linalg.norm(prefix), atol=1e-4):
        return (
            "you divided the whole matrix by one number (its overall length). Divide each "
            "row by its own length."
        )
    if np.allclose(cut, prefix / lengths**2, atol=1e-4):
        return "you divided by the squared length. Divide each row by its length itself."
    if np.allclose(cut, prefix * lengths, atol=1e-4):
        return "you multiplied by the length. Divide each row by it."
    return "divide each row by its own length, after cutting."


def _wrong_values(cut: np.ndarray, full: np.ndarray, dims: int) -> str:
    """Why unit rows of the right shape differ from the reference: the likely mistake."""
    want = truncate_and_normalize(full, dims)
    last = full[:, -dims:] / np.linalg.norm(full[:, -dims:], axis=1, keepdims=True)
    if np.allclose(cut, last, atol=1e-3):
        return f"you kept the last {dims} dimensions; Matryoshka keeps the first ones."
    if np.allclose(cut, -want, atol=1e-3):
        return "the signs are flipped: keep the values as they are, only rescale each row."
    if (cut @ want.T).max(axis=1).min() > 1 - 1e-4:
        return "the documents are in another order (or repeated): keep doc_emb's row order."
    return (
        f"these are not the first {dims} dimensions of doc_emb: start from doc_emb, keep "
        "its first dimensions, then re-normalise each row."
    )


@LAB.check("b")
def check_b(docs_128: Any, doc_emb: Any, dims: Any = 128) -> str:
    """``doc_emb`` cut to its first ``dims`` dimensions (Matryoshka) and re-normalised."""
    full = _document_vectors(doc_emb)
    n, total = full.shape
    if isinstance(dims, bool) or not isinstance(dims, int | np.integer) or not 0 < dims:
        raise Mistake("dims should be the number of dimensions to keep, as the cell passes it.")
    dims = int(dims)
    if total <= dims:
        raise Mistake(
            f"doc_emb has only {total} dimensions: it was overwritten with cut vectors. Keep "
            "doc_emb as it is, put the cut vectors in docs_128, and run the cell that sets "
            "doc_emb again."
        )
    cut = _matrix(docs_128, "docs_128", "an array of cut document vectors").astype(np.float64)
    if cut.ndim != 2:
        raise Mistake(
            f"docs_128 has shape {cut.shape}: it should be a matrix, one row per document."
        )
    if cut.shape != (n, dims):
        if cut.shape == (n, total):
            why = f"it still has all {total} dimensions: keep only the first {dims}."
        elif cut.shape[0] == dims and cut.shape[0] != n:
            why = (
                f"you kept the first {dims} documents (rows): keep every document and cut "
                "the dimensions (columns)."
            )
        elif cut.shape[0] == n:
            why = f"each document should keep the first {dims} dimensions (columns)."
        else:
            why = f"keep every one of the {n} documents (rows) of doc_emb."
        raise Mistake(f"docs_128 has shape {cut.shape}: {why}")
    if not np.isfinite(cut).all():
        raise Mistake(
            "docs_128 contains NaN or infinite values, from a division by zero: a column "
            "(dimension) can be all zeros, a document never is. Divide each row (document) "
            "by its own length."
        )
    if not np.allclose(np.linalg.norm(cut, axis=1), 1.0, atol=2e-3):
        raise Mistake(f"the rows of docs_128 are not unit length: {_not_unit(cut, full, dims)}")
    if not np.allclose(cut, truncate_and_normalize(full, dims), atol=2e-3):
        raise Mistake(
            f"docs_128 has unit rows but not the right values: {_wrong_values(cut, full, dims)}"
        )
    return f"{n} unit vectors of {dims} dimensions: {4 * dims} bytes each instead of {4 * total}."


# --------------------------------------------------------------------------- tables


def compare_precisions(
    result: Any,
    qrels: dict,
    *,
    calibration_embeddings: Any = None,
    metric: str = "nDCG@10",
) -> pd.DataFrame:
    """``metric`` and memory of float32, int8 and binary search, without and with rescoring.

    ``result`` is what :func:`embedlab.evaluate_model` returned (it holds the embeddings);
    each row is one :func:`embedlab.quantized_search` (top 10, 40 candidates to rescore).

    Returns:
        One row per method, with ``bytes_per_vector``, ``memory_ratio``, ``metric`` and
        ``retention`` (``metric`` as a share of float32's).
    """
    args = (result.query_embeddings, result.doc_embeddings, result.query_ids, result.doc_ids)
    dims, rows = result.doc_embeddings.shape[1], {}
    for name in ("float32", "int8", "int8+rescore", "binary", "binary+rescore"):
        precision = name.split("+")[0]
        run = quantized_search(
            *args,
            precision,
            k=10,  # enough for nDCG@10; 40 candidates to rescore, not the whole corpus
            rescore="+" in name,
            calibration_embeddings=calibration_embeddings,
        )
        size = bytes_per_vector(dims, precision)
        rows[name] = {
            "bytes_per_vector": size,
            "memory_ratio": 4 * dims / size,
            metric: evaluate_run(run, qrels).summary[metric],
        }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")
    table["retention"] = table[metric] / table[metric].iloc[0]
    return table


def compare_truncation(
    result: Any,
    qrels: dict,
    dims: Iterable[int] = (512, 256, 128, 64),
    *,
    metric: str = "nDCG@10",
) -> pd.DataFrame:
    """``metric`` when the embeddings of ``result`` are cut to fewer dimensions and
    re-normalised; sizes not smaller than the model's own are skipped.

    Returns:
        One row per size (the model's own first), with ``bytes_per_vector`` (float32),
        ``memory_ratio``, ``metric`` and ``retention``.
    """
    full = result.doc_embeddings.shape[1]
    rows = {}
    for n in [full, *(d for d in dims if d < full)]:
        q = truncate_and_normalize(result.query_embeddings, n)
        d = truncate_and_normalize(result.doc_embeddings, n)
        score = evaluate_run(search(q, d, result.query_ids, result.doc_ids), qrels).summary[metric]
        rows[n] = {"bytes_per_vector": 4 * n, "memory_ratio": full / n, metric: score}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("dims")
    table["retention"] = table[metric] / table[metric].iloc[0]
    return table


# --------------------------------------------------------------------------- figures


def _long(tables: Mapping[str, pd.DataFrame], by: str) -> pd.DataFrame:
    """The tables of several models as one long table with a ``model`` column."""
    return pd.concat(
        [t.reset_index().assign(model=name) for name, t in tables.items()], ignore_index=True
    ).rename(columns={"index": by})


def plot_precisions(tables: Mapping[str, pd.DataFrame], metric: str = "nDCG@10"):
    """Quality against memory per vector (log scale): one point per method and model.

    ``tables`` maps a model name to its :func:`compare_precisions` table.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = _long(tables, "method")
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100, layout="constrained")
    sns.scatterplot(
        data=data,
        x="bytes_per_vector",
        y=metric,
        hue="model",
        style="method",
        palette="colorblind",
        s=70,
        ax=ax,
    )
    ticks = sorted(set(data["bytes_per_vector"]))
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
    ax.minorticks_off()
    ax.set(
        xlabel="bytes per document vector (log scale)",
        ylabel=metric,
        title=f"Quality vs memory: {metric} on the course set",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize=8)
    return fig


def plot_truncation(tables: Mapping[str, pd.DataFrame], metric: str = "nDCG@10"):
    """Quality against the number of dimensions kept (Matryoshka), one line per model.

    ``tables`` maps a model name to its :func:`compare_truncation` table.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = _long(tables, "dims")
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100, layout="constrained")
    sns.lineplot(
        data=data,
        x="dims",
        y=metric,
        hue="model",
        style="model",
        markers=True,
        dashes=False,
        palette="colorblind",
        ax=ax,
    )
    ticks = sorted(set(data["dims"]))
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set(
        xlabel="dimensions kept (log scale), re-normalised",
        ylabel=metric,
        title=f"Matryoshka truncation: {metric} on the course set",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize=8)
    return fig


# --------------------------------------------------------------------------- live control


def index_setting(
    result: Any, qrels: dict, setting: str, n_docs: int = 1_000_000
) -> dict[str, Any]:
    """nDCG@10 and index memory for one setting of ``result`` (from ``evaluate_model``):
    ``"float32"``, ``"int8+rescore"``, ``"binary"``, ``"binary+rescore"`` or ``"<dims>d"``."""
    q, d = result.query_embeddings, result.doc_embeddings
    if setting.endswith("d") and setting[:-1].isdigit():
        dims = int(setting[:-1])
        q, d = truncate_and_normalize(q, dims), truncate_and_normalize(d, dims)
        precision, rescore = "float32", False
    else:
        dims, (precision, _, rescore) = d.shape[1], setting.partition("+")
    run = quantized_search(q, d, result.query_ids, result.doc_ids, precision, rescore=bool(rescore))
    size = bytes_per_vector(dims, precision)
    return {
        "setting": setting,
        "nDCG@10": evaluate_run(run, qrels).summary["nDCG@10"],
        "bytes_per_vector": size,
        f"GB for {n_docs:,} docs": size * n_docs / 1e9,
    }


def index_control(
    result: Any,
    qrels: dict,
    settings: Sequence[str] = (
        "float32",
        "int8+rescore",
        "binary",
        "binary+rescore",
        "256d",
        "128d",
        "64d",
    ),
) -> Any:
    """One control that changes how the index is stored; shows nDCG@10 and memory live.

    Without ipywidgets it prints how to install it and returns ``None``.
    """
    try:
        import ipywidgets as w
    except ImportError:
        print("The control needs ipywidgets: pip install ipywidgets, then restart the kernel.")
        return None
    pick = w.ToggleButtons(options=list(settings), description="index")
    out = w.Label()  # not an Output: nbclient fails on those when widget state is not stored
    base = index_setting(result, qrels, "float32")

    def show(_: Any = None) -> None:
        row = index_setting(result, qrels, pick.value)
        kept = row["nDCG@10"] / base["nDCG@10"]
        smaller = base["bytes_per_vector"] / row["bytes_per_vector"]
        out.value = (
            f"{pick.value}: nDCG@10 {row['nDCG@10']:.3f} ({kept:.1%} of float32), "
            f"{row['bytes_per_vector']} bytes per vector ({smaller:.0f}x smaller)"
        )

    pick.observe(show, names="value")
    show()
    return w.VBox([pick, out])


# --------------------------------------------------------------------------- warming


def warm(load: Any) -> None:
    """Fill the embedding cache with what the notebook reads through it: the course set's
    queries and documents for MiniLM and mpnet (``load`` is a cached ``load_model``)."""
    from embedlab.data import load_course_retrieval
    from embedlab.retrieval import evaluate_model

    ds = load_course_retrieval()
    for model in filter(None, map(load, ("all-MiniLM-L6-v2", "all-mpnet-base-v2"))):
        evaluate_model(model, ds)  # a model ``load`` gives as ``None`` is skipped

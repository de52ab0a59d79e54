"""Live demos for class: a semantic-search box (Lab 1) and an index-size control (Lab 2x).

The widgets are thin: :func:`top_matches` and :func:`index_setting` do the work and are
tested without a browser. Without ipywidgets, the widget functions print how to install it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from embedlab.errors import check_texts
from embedlab.quantization import (
    bytes_per_vector,
    quantized_search,
    truncate_and_normalize,
)
from embedlab.retrieval import evaluate_run, top_k


def top_matches(
    query: str,
    models: Mapping[str, Any],
    doc_embeddings: Mapping[str, Any],
    texts: Sequence[str],
    k: int = 5,
) -> pd.DataFrame:
    """The ``k`` texts closest to ``query`` for each model, side by side, with each model's
    query latency. ``doc_embeddings[name]`` are the unit vectors of ``texts`` by that model."""
    (query,) = check_texts(query, "query")
    columns = {}
    for name, model in models.items():
        start = time.perf_counter()
        q = np.asarray(model.encode_query([query], normalize_embeddings=True), dtype=np.float32)
        ms = (time.perf_counter() - start) * 1000
        scores = q @ np.asarray(doc_embeddings[name], dtype=np.float32).T
        best = top_k(scores, [f"{i:06d}" for i in range(len(texts))], k)[0]
        columns[f"{name} ({ms:.0f} ms)"] = [f"{scores[0, i]:.2f}  {texts[i]}" for i in best]
    return pd.DataFrame(columns, index=pd.RangeIndex(1, k + 1, name="rank"))


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
    return {"setting": setting, "nDCG@10": evaluate_run(run, qrels).summary["nDCG@10"],
            "bytes_per_vector": size, f"GB for {n_docs:,} docs": size * n_docs / 1e9}  # fmt: skip


def _widgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        print("The playground needs ipywidgets: pip install ipywidgets, then restart the kernel.")
        return None
    return ipywidgets


def search_box(
    models: Mapping[str, Any], doc_embeddings: Mapping[str, Any], texts: Sequence[str]
) -> Any:
    """A text box and a model picker: type a query, see each model's top 5 and its latency."""
    w = _widgets()
    if w is None:
        return None
    box = w.Text(
        placeholder="Type a query and press Enter",
        description="query",
        continuous_update=False,  # the value changes on Enter (or leaving the box)
        layout={"width": "60%"},
    )
    picker = w.SelectMultiple(options=list(models), value=tuple(models), description="models")
    out = w.Output()

    def show(_: Any = None) -> None:
        from IPython.display import display

        out.clear_output()
        with out:
            if box.value.strip() and picker.value:
                chosen = {n: models[n] for n in picker.value}
                table = top_matches(box.value, chosen, doc_embeddings, texts)
                print(f"Top {len(table)} for {box.value!r}:")
                with pd.option_context("display.max_colwidth", None):
                    display(table)

    box.observe(show, names="value")
    picker.observe(show, names="value")
    return w.VBox([w.HBox([box, picker]), out])


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
    """One control that changes how the index is stored; shows nDCG@10 and memory live."""
    w = _widgets()
    if w is None:
        return None
    pick = w.ToggleButtons(options=list(settings), description="index")
    out = w.Label()  # not an Output: nbclient fails on those when widget state is not stored
    base = index_setting(result, qrels, "float32")

    def show(_: Any = None) -> None:
        row = index_setting(result, qrels, pick.value)
        kept, smaller = (
            row["nDCG@10"] / base["nDCG@10"],
            base["bytes_per_vector"] / row["bytes_per_vector"],
        )
        out.value = (
            f"{pick.value}: nDCG@10 {row['nDCG@10']:.3f} ({kept:.1%} of float32), "
            f"{row['bytes_per_vector']} bytes per vector ({smaller:.0f}x smaller)"
        )

    pick.observe(show, names="value")
    show()
    return w.VBox([pick, out])

"""The small helpers: timing (percentiles, warm-up, the knee), the figures (titles, labels,
colour bars) and the playground's computations (tested without a browser)."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from embedlab import playground, plots, timing
from embedlab.errors import InvalidInputError
from embedlab.quantization import quantized_search
from embedlab.retrieval import evaluate_run

matplotlib.use("Agg")


class CountingModel:
    """Records every encode call; vectors from the text length (unit length)."""

    device = "cpu"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], dict]] = []

    def _vectors(self, texts):
        x = np.array([[len(t), 1.0, (len(t) % 3)] for t in texts], dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def encode_query(self, texts, **kw):
        self.calls.append(("query", list(texts), kw))
        return self._vectors(texts)

    def encode_document(self, texts, **kw):
        self.calls.append(("document", list(texts), kw))
        return self._vectors(texts)


# --------------------------------------------------------------------------- timing


def test_measure_latency_warms_up_then_times_one_query_per_call():
    model = CountingModel()
    queries = [f"query {i}" for i in range(8)]
    result = timing.measure_latency(model, queries, warmup=3)
    assert [c[1] for c in model.calls] == [[q] for q in queries[:3]] + [[q] for q in queries]
    samples = result["samples_ms"]
    assert len(samples) == 8 and all(s >= 0 for s in samples)
    assert result["p50_ms"] == pytest.approx(np.percentile(samples, 50))
    assert result["p95_ms"] == pytest.approx(np.percentile(samples, 95))


def test_batch_sweep_and_knee():
    model = CountingModel()
    texts = [f"text {i}" for i in range(12)]
    sweep = timing.batch_sweep(model, texts, batch_sizes=(1, 4), repeats=2)
    assert sweep.index.tolist() == [1, 4] and sweep.index.name == "batch_size"
    assert sweep.columns.tolist() == ["texts_per_s", "ms_per_text", "batch_latency_ms"]
    np.testing.assert_allclose(sweep["ms_per_text"], 1000 / sweep["texts_per_s"])
    np.testing.assert_allclose(
        sweep["batch_latency_ms"], [1 * 1000, 4 * 1000] / sweep["texts_per_s"]
    )
    sizes = [c[2]["batch_size"] for c in model.calls]
    assert sizes == [1, 1, 1, 4, 4, 4]  # a warm-up, then the repeats, per batch size
    table = pd.DataFrame({"texts_per_s": [40.0, 95.0, 100.0, 99.0]}, index=[1, 8, 32, 128])
    assert timing.knee(table) == 8 and timing.knee(table, fraction=0.99) == 32


def test_timing_input_errors():
    with pytest.raises(InvalidInputError, match="queries is an empty list"):
        timing.measure_latency(CountingModel(), [])
    with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
        timing.measure_throughput(CountingModel(), ["x"], batch_size=0)
    with pytest.raises(InvalidInputError, match="repeats must be a positive integer"):
        timing.measure_throughput(CountingModel(), ["x"], repeats=0)


# --------------------------------------------------------------------------- plots


def test_heatmaps_label_every_axis_and_share_one_colour_bar():
    sims = {"model a": np.eye(3), "model b": np.ones((3, 3))}
    fig = plots.heatmaps(sims, ["s1", "s2", "s3"], title="Similarity")
    heat = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heat] == ["model a", "model b"]
    assert [t.get_text() for t in heat[0].get_xticklabels()] == ["s1", "s2", "s3"]
    assert heat[0].get_ylabel() == "sentence" and heat[1].get_xlabel() == "sentence"
    (bar,) = [ax for ax in fig.axes if ax.get_ylabel() == "cosine similarity"]
    assert fig._suptitle.get_text() == "Similarity"
    matplotlib.pyplot.close(fig)


def test_scatter_2d_has_one_colour_per_group_and_a_legend():
    coords = {"m": np.arange(12, dtype=float).reshape(6, 2)}
    fig = plots.scatter_2d(coords, ["a", "b", "a", "c", "b", "a"])
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    assert ax.get_title() == "m" and ax.get_xlabel() == "t-SNE 1"
    matplotlib.pyplot.close(fig)


def test_lines_plots_one_curve_per_table():
    curve = pd.DataFrame({"recall": [0.2, 0.5]}, index=pd.Index([1, 5], name="k"))
    fig = plots.lines({"x": curve, "y": curve * 2}, x="k", y="recall", title="R@k", log=True)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["x", "y"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("k", "recall", "R@k")
    assert ax.get_xscale() == "log"
    matplotlib.pyplot.close(fig)


# --------------------------------------------------------------------------- playground


def test_top_matches_ranks_each_models_documents():
    texts = ["aa", "aaaa", "a", "aaaaaaaa"]
    model = CountingModel()
    docs = {"m": model._vectors(texts)}
    table = playground.top_matches("aaa", {"m": model}, docs, texts, k=2)
    assert table.index.tolist() == [1, 2] and table.index.name == "rank"
    (column,) = table.columns
    assert column.startswith("m (") and column.endswith(" ms)")
    scores = docs["m"] @ model._vectors(["aaa"])[0]
    best = np.argsort(-scores)[:2]
    assert table[column].tolist() == [f"{scores[i]:.2f}  {texts[i]}" for i in best]
    with pytest.raises(InvalidInputError, match="query is empty"):
        playground.top_matches(" ", {"m": model}, docs, texts)


def test_index_setting_matches_quantized_search():
    result, _ = _small_result(seed=0, n_queries=10, n_docs=50, dims=32)
    qrels = {f"q{i}": {f"d{i}": 1, f"d{i + 10}": 2} for i in range(10)}
    args = (result.query_embeddings, result.doc_embeddings, result.query_ids, result.doc_ids)
    row = playground.index_setting(result, qrels, "binary+rescore", n_docs=1000)
    expected = evaluate_run(quantized_search(*args, "binary", rescore=True), qrels)
    assert row == {
        "setting": "binary+rescore",
        "nDCG@10": expected.summary["nDCG@10"],
        "bytes_per_vector": 4,
        "GB for 1,000 docs": 4e-6,
    }
    plain = playground.index_setting(result, qrels, "binary")
    assert (
        plain["nDCG@10"]
        == evaluate_run(quantized_search(*args, "binary", rescore=False), qrels).summary["nDCG@10"]
    )
    short = playground.index_setting(result, qrels, "16d")
    assert short["bytes_per_vector"] == 64


def _small_result(seed: int = 1, n_queries: int = 5, n_docs: int = 25, dims: int = 16):
    """An evaluate_model-like result of random unit vectors, and qrels: q<i> -> d<i>."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_queries + n_docs, dims)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    result = SimpleNamespace(
        query_embeddings=x[:n_queries],
        doc_embeddings=x[n_queries:],
        query_ids=[f"q{i}" for i in range(n_queries)],
        doc_ids=[f"d{i}" for i in range(n_docs)],
    )
    return result, {f"q{i}": {f"d{i}": 1} for i in range(n_queries)}


def test_search_box_shows_the_table_when_a_query_is_entered(capsys):
    texts = ["aa", "aaaa", "a", "aaaaaaaa", "aaaaa", "aaaaaaa"]
    model = CountingModel()
    box = playground.search_box({"m": model}, {"m": model._vectors(texts)}, texts)
    text, picker = box.children[0].children
    assert text.continuous_update is False  # the table follows Enter, not every keystroke
    assert picker.value == ("m",)
    text.value = "aaa"  # what pressing Enter in the browser does
    assert [c[0] for c in model.calls] == ["query"]
    shown = capsys.readouterr().out  # outside a kernel the Output widget lets prints through
    assert "Top 5 for 'aaa'" in shown and "rank" in shown and "0.97  aaaaaaa" in shown


def test_index_control_updates_its_line_when_the_setting_changes():
    result, qrels = _small_result()
    control = playground.index_control(result, qrels)
    pick, line = control.children
    assert line.value.startswith("float32: nDCG@10 ") and "(1x smaller)" in line.value
    pick.value = "binary"
    expected = playground.index_setting(result, qrels, "binary")["nDCG@10"]
    assert line.value.startswith(f"binary: nDCG@10 {expected:.3f}")
    assert "2 bytes per vector (32x smaller)" in line.value


def test_without_ipywidgets_the_playgrounds_say_how_to_install_it(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_widgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError("No module named 'ipywidgets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    result, qrels = _small_result()
    assert playground.index_control(result, qrels) is None
    assert playground.search_box({}, {}, []) is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert (
        lines
        == ["The playground needs ipywidgets: pip install ipywidgets, then restart the kernel."] * 2
    )

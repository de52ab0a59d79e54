"""The small helpers: timing (percentiles, warm-up, the knee) and the figures (titles,
labels, colour bars). The labs' own helpers are tested in tests/test_lab*_helpers.py."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from embedlab import plots, timing
from embedlab.errors import InvalidInputError

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

"""Lab 2x's own helpers: the comparison tables, their figures, the live index control and
``warm``. The tables are checked against the search they summarise, called directly, and
against NumPy references for the memory and the truncation."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from embedlab.labs import lab2x
from embedlab.quantization import quantized_search
from embedlab.retrieval import evaluate_run, search

matplotlib.use("Agg")


def unit_rows(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    x = rng.standard_normal((n, dims))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> dict:
    """30 queries, each a noisy copy of one of 500 documents; 100 dims (not a multiple of 8)."""
    rng = np.random.default_rng(42)
    docs = unit_rows(rng, 500, 100)
    noisy = docs[:30] + 0.1 * rng.standard_normal((30, 100))
    return {
        "queries": (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32),
        "docs": docs,
        "calibration": unit_rows(rng, 300, 100),
        "qids": [f"q{i}" for i in range(30)],
        "dids": [f"d{i:03d}" for i in range(500)],
    }


@pytest.fixture(scope="module")
def result(data) -> SimpleNamespace:
    """What evaluate_model returns, as far as the tables and the control read it."""
    return SimpleNamespace(
        query_embeddings=data["queries"],
        doc_embeddings=data["docs"],
        query_ids=data["qids"],
        doc_ids=data["dids"],
    )


@pytest.fixture(scope="module")
def qrels(data) -> dict:
    return {qid: {f"d{i:03d}": 2, f"d{i + 100:03d}": 1} for i, qid in enumerate(data["qids"])}


# --------------------------------------------------------------------------- tables


def test_compare_precisions_is_each_search_scored(data, result, qrels):
    table = lab2x.compare_precisions(result, qrels, calibration_embeddings=data["calibration"])
    assert table.index.tolist() == ["float32", "int8", "int8+rescore", "binary", "binary+rescore"]
    assert table.index.name == "method"
    assert table.columns.tolist() == ["bytes_per_vector", "memory_ratio", "nDCG@10", "retention"]
    # 100 dims: 4 bytes each, 1 byte each, 100 bits padded to 13 bytes
    assert table["bytes_per_vector"].tolist() == [400, 100, 100, 13, 13]
    assert table["memory_ratio"].tolist() == pytest.approx([1, 4, 4, 400 / 13, 400 / 13])
    args = (data["queries"], data["docs"], data["qids"], data["dids"])
    for name in table.index:
        precision, rescore = name.split("+")[0], "+" in name
        run = quantized_search(
            *args, precision, k=10, rescore=rescore, calibration_embeddings=data["calibration"]
        )
        assert table.loc[name, "nDCG@10"] == evaluate_run(run, qrels).summary["nDCG@10"], name
    assert table["retention"].tolist() == pytest.approx(
        (table["nDCG@10"] / table.loc["float32", "nDCG@10"]).tolist()
    )


def test_compare_precisions_with_another_metric(result, qrels):
    table = lab2x.compare_precisions(result, qrels, metric="MAP")
    assert "MAP" in table.columns and "nDCG@10" not in table.columns
    assert table.loc["float32", "retention"] == 1.0


def test_compare_truncation_equals_numpy_truncation(data, result, qrels):
    table = lab2x.compare_truncation(result, qrels, dims=(512, 100, 64, 16), metric="MAP")
    assert table.index.tolist() == [100, 64, 16] and table.index.name == "dims"
    assert table["bytes_per_vector"].tolist() == [400, 256, 64]
    assert table["memory_ratio"].tolist() == pytest.approx([1, 100 / 64, 100 / 16])
    assert table.loc[100, "retention"] == 1.0
    args = (data["queries"], data["docs"])
    q, d = (x[:, :16] / np.linalg.norm(x[:, :16], axis=1, keepdims=True) for x in args[:2])
    expected = evaluate_run(search(q, d, data["qids"], data["dids"]), qrels).summary["MAP"]
    assert table.loc[16, "MAP"] == pytest.approx(expected, abs=1e-12)
    assert table.loc[16, "retention"] == pytest.approx(expected / table.loc[100, "MAP"])


@pytest.mark.slow
def test_minilm_on_the_course_set(course_minilm):
    import embedlab

    qrels = embedlab.load_course_retrieval().qrels
    table = lab2x.compare_precisions(course_minilm, qrels)
    # measured nDCG@10: float32 0.780, int8 0.775, int8+rescore 0.781, binary 0.719,
    # binary+rescore 0.770
    assert table.loc["float32", "nDCG@10"] == course_minilm.summary["nDCG@10"]
    assert table.loc["binary+rescore", "nDCG@10"] > table.loc["binary", "nDCG@10"]
    assert table.loc["binary", "bytes_per_vector"] == 48
    cut = lab2x.compare_truncation(course_minilm, qrels)
    assert cut.index.tolist() == [384, 256, 128, 64]  # 512 is not below 384: skipped
    assert cut.loc[384, "nDCG@10"] == course_minilm.summary["nDCG@10"]
    assert cut["nDCG@10"].is_monotonic_decreasing  # measured 0.780, 0.767, 0.723, 0.648


# --------------------------------------------------------------------------- figures


@pytest.fixture(scope="module")
def tables(data, result, qrels) -> dict:
    other = SimpleNamespace(**{**vars(result), "doc_embeddings": data["docs"][:, ::-1].copy()})
    other.query_embeddings = data["queries"][:, ::-1].copy()
    return {
        "precisions": {
            "m1": lab2x.compare_precisions(result, qrels),
            "m2": lab2x.compare_precisions(other, qrels),
        },
        "truncation": {
            "m1": lab2x.compare_truncation(result, qrels, dims=(64, 32)),
            "m2": lab2x.compare_truncation(other, qrels, dims=(50,)),
        },
    }


def test_plot_precisions_one_point_per_method_and_model(tables):
    import matplotlib.pyplot as plt

    fig = lab2x.plot_precisions(tables["precisions"])
    (ax,) = fig.axes
    assert fig.dpi == 100
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "bytes per document vector (log scale)"
    assert ax.get_ylabel() == "nDCG@10" and "Quality vs memory" in ax.get_title()
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    assert len(points) == 10  # 5 methods x 2 models
    expected = pd.concat(tables["precisions"].values())
    assert sorted(map(tuple, points.tolist())) == sorted(
        zip(expected["bytes_per_vector"].astype(float), expected["nDCG@10"], strict=True)
    )
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"m1", "m2", "float32", "binary+rescore"} <= set(labels)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["13", "100", "400"]
    plt.close(fig)


def test_plot_truncation_one_line_per_model(tables):
    import matplotlib.pyplot as plt

    fig = lab2x.plot_truncation(tables["truncation"])
    (ax,) = fig.axes
    assert fig.dpi == 100
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "nDCG@10"
    assert "re-normalised" in ax.get_xlabel() and "Matryoshka" in ax.get_title()
    lines = [line for line in ax.get_lines() if len(line.get_xdata())]
    assert sorted(len(line.get_xdata()) for line in lines) == [2, 3]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["32", "50", "64", "100"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["m1", "m2"]
    colours = {line.get_color() for line in lines}
    assert len(colours) == 2  # seaborn's colour-blind palette, one colour per model
    plt.close(fig)


# --------------------------------------------------------------------------- live control


def _small_result(seed: int = 1, n_queries: int = 5, n_docs: int = 25, dims: int = 16):
    """An evaluate_model-like result of random unit vectors, and qrels: q<i> -> d<i>."""
    rng = np.random.default_rng(seed)
    x = unit_rows(rng, n_queries + n_docs, dims)
    result = SimpleNamespace(
        query_embeddings=x[:n_queries],
        doc_embeddings=x[n_queries:],
        query_ids=[f"q{i}" for i in range(n_queries)],
        doc_ids=[f"d{i}" for i in range(n_docs)],
    )
    return result, {f"q{i}": {f"d{i}": 1} for i in range(n_queries)}


def test_index_setting_matches_quantized_search():
    result, _ = _small_result(seed=0, n_queries=10, n_docs=50, dims=32)
    qrels = {f"q{i}": {f"d{i}": 1, f"d{i + 10}": 2} for i in range(10)}
    args = (result.query_embeddings, result.doc_embeddings, result.query_ids, result.doc_ids)
    row = lab2x.index_setting(result, qrels, "binary+rescore", n_docs=1000)
    expected = evaluate_run(quantized_search(*args, "binary", rescore=True), qrels)
    assert row == {
        "setting": "binary+rescore",
        "nDCG@10": expected.summary["nDCG@10"],
        "bytes_per_vector": 4,
        "GB for 1,000 docs": 4e-6,
    }
    plain = lab2x.index_setting(result, qrels, "binary")
    expected = evaluate_run(quantized_search(*args, "binary", rescore=False), qrels)
    assert plain["nDCG@10"] == expected.summary["nDCG@10"]
    short = lab2x.index_setting(result, qrels, "16d")
    q, d = (x[:, :16] / np.linalg.norm(x[:, :16], axis=1, keepdims=True) for x in args[:2])
    expected = evaluate_run(search(q, d, *args[2:]), qrels).summary["nDCG@10"]
    assert short["bytes_per_vector"] == 64 and short["nDCG@10"] == pytest.approx(expected)


def test_index_control_updates_its_line_when_the_setting_changes():
    result, qrels = _small_result()
    control = lab2x.index_control(result, qrels)
    pick, line = control.children
    assert line.value.startswith("float32: nDCG@10 ") and "(1x smaller)" in line.value
    pick.value = "binary"
    expected = lab2x.index_setting(result, qrels, "binary")["nDCG@10"]
    assert line.value.startswith(f"binary: nDCG@10 {expected:.3f}")
    assert "2 bytes per vector (32x smaller)" in line.value


def test_index_control_without_ipywidgets_says_how_to_install_it(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_widgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError("No module named 'ipywidgets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    result, qrels = _small_result()
    assert lab2x.index_control(result, qrels) is None
    assert "pip install ipywidgets" in capsys.readouterr().out


# --------------------------------------------------------------------------- warm


@pytest.fixture(scope="module")
def learner_cache_file():
    """The learner's cache file, found before ``private_cache_dir`` moves the cache folder."""
    from embedlab.models import cache_dir

    return cache_dir() / "embeddings.sqlite"


@pytest.mark.slow
def test_warm_reads_and_fills_what_the_notebook_reads_through_the_cache(
    minilm, mpnet, learner_cache_file, private_cache_dir, monkeypatch
):
    """warm() asks the cache for exactly the keys the notebook's cell course-scores reads,
    and afterwards that cell misses nothing. The private cache starts as a copy of the
    learner's (read only), so a warmed machine encodes nothing here."""
    import sqlite3

    import embedlab
    from embedlab.cache import EmbeddingCache, default_cache

    private_cache_dir.mkdir(parents=True)
    copy = private_cache_dir / "embeddings.sqlite"
    EmbeddingCache(copy).close()  # an empty cache file with the course's table
    if learner_cache_file.exists():
        with sqlite3.connect(f"file:{copy}", uri=True) as db:  # uri: ATTACH read-only
            db.execute("ATTACH DATABASE ? AS learner", (f"file:{learner_cache_file}?mode=ro",))
            db.execute("INSERT OR IGNORE INTO vectors SELECT * FROM learner.vectors")
        db.close()
    asked: list[str] = []
    get_many = EmbeddingCache.get_many

    def recording(self, keys):
        asked.extend(keys)
        return get_many(self, keys)

    monkeypatch.setattr(EmbeddingCache, "get_many", recording)
    models = {"all-MiniLM-L6-v2": minilm, "all-mpnet-base-v2": mpnet}
    lab2x.warm(models.__getitem__)
    warmed, asked[:] = set(asked), []
    cache = default_cache()
    assert cache.path == copy
    misses = cache.stats()["misses"]
    ds = embedlab.load_course_retrieval()
    for model in models.values():  # what the notebook reads through the cache
        embedlab.evaluate_model(model, ds)
    assert set(asked) == warmed
    assert len(warmed) == 2 * len(set(ds.doc_texts())) + 2 * len(set(ds.query_texts()))
    assert cache.stats()["misses"] == misses

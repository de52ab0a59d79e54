"""Lab 1's own helpers: the matched items and their tables, the dot-vs-cosine count, the speed
table, the figures (annotated heatmaps, colour-blind-safe maps) and the live search box,
each checked against an independent computation with the real models."""

from __future__ import annotations

import textwrap

import matplotlib
import numpy as np
import pandas as pd
import pytest
import seaborn as sns
from sklearn.metrics.pairwise import cosine_similarity

import embedlab
from embedlab import plots
from embedlab.embeddings import without_normalize
from embedlab.errors import InvalidInputError
from embedlab.labs import lab1

matplotlib.use("Agg")
MINI, STATIC = "all-MiniLM-L6-v2", "static-MiniLM-L6-v2-256d"


@pytest.fixture(scope="module")
def sentences() -> pd.DataFrame:
    return embedlab.load_sentences()


@pytest.fixture(scope="module")
def models(minilm, static_model):
    return {MINI: minilm, STATIC: static_model}


@pytest.fixture(scope="module")
def sims(models, sentences):
    texts = sentences["text"].tolist()
    out = {}
    for name, model in models.items():
        e = model.encode_document(texts, normalize_embeddings=True)
        out[name] = e @ e.T
    return out


# --------------------------------------------------------------------------- matched items


def test_triplets_are_anchor_paraphrase_and_hard_negative_of_one_topic(sentences):
    items = lab1.triplets(sentences)
    assert items.columns.tolist() == ["anchor", "paraphrase", "hard_negative"]
    assert len(items) == 10 and items.index.tolist() == [f"n{i:02d}" for i in range(1, 11)]
    pairs = embedlab.sentence_pairs(sentences, note="hard_negative").set_index("pair_id")
    text = sentences["text"]
    for pair_id, row in items.iterrows():  # anchor and hard negative: the data's own pair
        expected = pairs.loc[pair_id, ["text_a", "text_b"]].tolist()
        assert [text[row.anchor], text[row.hard_negative]] == expected
        para = sentences.iloc[row.paraphrase]
        assert para["note"] == "" and para["topic"] == pairs.loc[pair_id, "topic"]
    assert len(set(items.to_numpy().ravel())) == 30
    pd.testing.assert_frame_equal(lab1.triplets(), items)


def test_triplets_reject_a_filtered_table(sentences):
    with pytest.raises(InvalidInputError, match="missing: pass the whole table"):
        lab1.triplets(sentences.iloc[:50])
    with pytest.raises(InvalidInputError, match="load_sentences"):
        lab1.triplets(["not", "a", "table"])


def test_pairs_table_matches_an_independent_computation(sims, sentences):
    table = lab1.pairs_table(sims, sentences)
    items = lab1.triplets(sentences)
    topic = sentences["topic"].to_numpy()
    for name, s in sims.items():
        para = np.array([s[a, p] for a, p in zip(items.anchor, items.paraphrase, strict=True)])
        hard = np.array([s[a, h] for a, h in zip(items.anchor, items.hard_negative, strict=True)])
        across = [s[i, j] for i in range(len(s)) for j in range(len(s)) if topic[i] != topic[j]]
        row = table.loc[name]
        assert row["paraphrase"] == pytest.approx(para.mean(), abs=5e-4)
        assert row["hard negative"] == pytest.approx(hard.mean(), abs=5e-4)
        assert row["paraphrase higher (of 10)"] == (para > hard).sum()
        assert row["other topics"] == pytest.approx(np.mean(across), abs=5e-4)
    with pytest.raises(InvalidInputError, match=r"has shape \(3, 3\); expected \(96, 96\)"):
        lab1.pairs_table({"m": np.eye(3)}, sentences)


def test_dot_vs_cosine_counts_changed_nearest_neighbours(models, sentences):
    texts = sentences["text"].tolist()[:30]
    table = lab1.dot_vs_cosine(models, texts)
    for name, model in models.items():
        raw = np.asarray(without_normalize(model).encode_document(texts), dtype=np.float64)
        cos = cosine_similarity(raw)  # the static model gives word-swapped sentences one vector
        np.fill_diagonal(cos, -np.inf)
        dot = raw @ raw.T - np.diag(np.full(len(texts), np.inf))
        best = cos.max(axis=1)
        differs = sum(cos[i, j] < best[i] - 1e-9 for i, j in enumerate(dot.argmax(1)))
        lengths = np.linalg.norm(raw, axis=1)
        assert table.loc[name, "nearest neighbour differs"] == f"{differs} of 30"
        assert table.loc[name, "vector lengths"] == f"{lengths.min():.2f} to {lengths.max():.2f}"
        assert lengths.min() > 1.01  # without Normalize, the vectors are not unit length


def test_speed_table_has_one_row_per_model_and_names_the_setup(static_model):
    texts = embedlab.load_sentences()["text"].tolist()[:12]
    table = lab1.speed_table({STATIC: static_model}, texts[:6], texts)
    assert table.columns.tolist() == ["p50 ms", "p95 ms", "texts/s"]
    assert table.index.tolist() == [STATIC] and "torch threads" in table.index.name
    row = table.loc[STATIC]
    assert 0 <= row["p50 ms"] <= row["p95 ms"] and row["texts/s"] > 0


# --------------------------------------------------------------------------- figures


def test_heatmaps_annotate_every_cell_and_share_one_colour_bar():
    fig = plots.heatmaps({"a": np.eye(3), "b": np.full((3, 3), 0.5)}, ["s1", "s2", "s3"])
    heat = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heat] == ["a", "b"]
    assert [t.get_text() for t in heat[1].texts] == ["0.50"] * 9
    assert [t.get_text() for t in heat[0].get_xticklabels()] == ["s1", "s2", "s3"]
    (bar,) = [ax for ax in fig.axes if ax.get_ylabel() == "cosine similarity"]
    assert fig.dpi == 100
    matplotlib.pyplot.close(fig)


def test_item_heatmaps_mark_each_sentence_with_its_kind(sims, sentences):
    fig = lab1.item_heatmaps(sims, sentences)
    first = fig.axes[0]
    rows = [t.get_text() for t in first.get_yticklabels()]
    assert [r.split(":")[0] for r in rows] == [
        f"{k} {kind}" for k in (1, 2) for kind in ("anchor", "paraphrase", "hard neg.")
    ]
    anchor = sentences["text"].iloc[lab1.triplets(sentences).anchor.iloc[0]]
    assert rows[0] == f"1 anchor: {textwrap.shorten(anchor, 34, placeholder='...')}"
    columns = [t.get_text() for t in first.get_xticklabels()]
    assert columns[:3] == ["1 anchor", "1 paraphrase", "1 hard neg."]
    assert len(first.texts) == 36  # every cell annotated
    matplotlib.pyplot.close(fig)


def test_scatter_2d_uses_a_colour_blind_safe_palette():
    coords = {"m": np.arange(12, dtype=float).reshape(6, 2)}
    fig = plots.scatter_2d(coords, ["a", "b", "a", "c", "b", "a"])
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    safe = [tuple(np.round(c, 3)) for c in sns.color_palette("colorblind", 3)]
    used = [tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in ax.collections]
    assert used == safe
    matplotlib.pyplot.close(fig)


# --------------------------------------------------------------------------- search box


def test_top_matches_ranks_each_models_sentences(models, sentences):
    texts = sentences["text"].tolist()
    docs = {n: m.encode_document(texts, normalize_embeddings=True) for n, m in models.items()}
    query = "My account was suspended yesterday afternoon."
    table = lab1.top_matches(query, models, docs, texts, k=3)
    assert table.index.tolist() == [1, 2, 3] and table.index.name == "rank"
    for column, name in zip(table.columns, models, strict=True):
        assert column.startswith(f"{name} (") and column.endswith(" ms)")
        q = models[name].encode_query([query], normalize_embeddings=True)[0]
        best = np.argsort(-(docs[name] @ q))[:3]
        assert table[column].tolist() == [f"{docs[name][i] @ q:.2f}  {texts[i]}" for i in best]
        assert table[column].iloc[0].endswith(query)  # the sentence itself comes first
    with pytest.raises(InvalidInputError, match="query is empty"):
        lab1.top_matches(" ", models, docs, texts)


def test_search_box_shows_the_table_when_a_query_is_entered(static_model, sentences, capsys):
    texts = sentences["text"].tolist()
    docs = {STATIC: static_model.encode_document(texts, normalize_embeddings=True)}
    box = lab1.search_box({STATIC: static_model}, docs, texts)
    text, picker = box.children[0].children
    assert text.continuous_update is False  # the table follows Enter, not every keystroke
    assert picker.value == (STATIC,)
    text.value = "The printer will not print"  # what pressing Enter in the browser does
    shown = capsys.readouterr().out  # outside a kernel the Output widget lets prints through
    assert "Top 5 for 'The printer will not print'" in shown and "rank" in shown


def test_without_ipywidgets_the_search_box_says_how_to_install_it(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_widgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError("No module named 'ipywidgets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    assert lab1.search_box({}, {}, []) is None
    assert "pip install ipywidgets" in capsys.readouterr().out

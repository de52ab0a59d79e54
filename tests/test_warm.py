"""`make warm` (tools/warm.py): after it, a notebook's cached embeddings are all cache hits.

Two tests: on a small notebook, the miss count `make warm` reports is real in both
directions; and in CI, which runs `make warm` and then `make test` with
EMBEDLAB_EXPECT_WARM=1, every solution run of the session (in the browser and under nbval)
adds no vector to the embedding cache.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from conftest import cache_entries

import embedlab

ROOT = Path(__file__).resolve().parent.parent


def _warm():
    spec = importlib.util.spec_from_file_location("warm", ROOT / "tools" / "warm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_after_warming_only_a_new_text_is_embedded(tmp_path, monkeypatch):
    from embedlab.models import cache_dir

    models = cache_dir("models")  # built models are not embeddings: reuse them
    private = tmp_path / "cache"
    (private).mkdir()
    os.symlink(models, private / "models")
    monkeypatch.setenv("EMBEDLAB_CACHE_DIR", str(private))
    warm = _warm()

    def only_minilm(name: str):  # the labs skip a model their load gives as None
        return embedlab.load_model(name) if name == "all-MiniLM-L6-v2" else None

    seconds = warm.fill(["lab1", "lab2"], load=only_minilm)
    assert set(seconds) == {"lab1", "lab2"}

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import embedlab\n"
            "model = embedlab.load_model('all-MiniLM-L6-v2')\n"
            "texts = embedlab.load_sentences()['text'].tolist()\n"
            "embedlab.embed(model, texts, cache=True)\n"
            "embedlab.evaluate_model(model, embedlab.load_course_retrieval())\n"
            "embedlab.embed(model, 'a sentence no lab contains', cache=True)"
        )
    ]
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    report = warm.run(path)
    assert report["misses"] == 1, report  # the one new sentence, nothing else
    assert report["hits"] == 96 + 96 + 383, report  # sentences, queries, documents
    assert 50 < report["peak_rss_mb"] < 4000, report


@pytest.mark.after_all
@pytest.mark.skipif(
    not os.environ.get("EMBEDLAB_EXPECT_WARM"),
    reason="needs a cache `make warm` just filled: CI sets EMBEDLAB_EXPECT_WARM=1 after it",
)
def test_after_make_warm_the_test_run_embedded_nothing():
    """`make test` runs this after the rest (marker after_all): every solution ran, under
    nbval and in the browser, and found its vectors cached; the cache did not grow."""
    outputs = ROOT / "outputs"
    ran = {line for f in outputs.glob("nbval-ran-*.txt") for line in f.read_text().split()}
    expected = {p.stem for p in (ROOT / "solutions").glob("*.ipynb")}
    assert ran == expected, f"run `make test` (nbval on every solution), not only {sorted(ran)}"
    before = int((outputs / "cache-entries-before-tests.txt").read_text())
    added = cache_entries() - before
    assert added == 0, (
        f"the solutions embedded {added} texts after `make warm`: a lab module's warm() "
        "misses a text its solution reads through the cache, so a class would wait on it"
    )

"""`make warm` (tools/warm.py): after it, a notebook's cached embeddings are all cache hits.

CI runs `make warm` itself, which runs every solution and fails if one still embeds a text;
this test shows on a small notebook that the count it relies on is real in both directions.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest

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
    warm.fill(("all-MiniLM-L6-v2",))

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

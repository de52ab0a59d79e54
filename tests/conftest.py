"""Shared fixtures: the course models, loaded once per session, and a network guard.

The suite must pass with no network: every socket connection to a non-loopback address
is refused here, so a test that tries to reach a hub fails at once instead of hanging.

Session fixtures load models from the real embedlab cache folder (the static model is built
there once, mpnet unpacked there once). Tests that write caches or build models use
``private_cache_dir``, a temporary ``EMBEDLAB_CACHE_DIR``; pytest sets up session fixtures
before function fixtures, so a model fixture never builds into a test's temporary folder.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("EMBEDLAB_QUIET", "1")

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address, *args, **kwargs):  # noqa: ANN001
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise ConnectionRefusedError(f"tests may not reach the network ({host})")
    return _real_connect(self, address, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _loopback_only  # type: ignore[method-assign]


ROOT = Path(__file__).resolve().parent.parent
RAN: set[str] = set()  # the notebooks whose cells nbval ran in this process


def cache_entries() -> int:
    """Vectors in the embedding cache file that the notebooks' kernels use (0 if none yet)."""
    import sqlite3

    from embedlab.models import cache_dir

    path = cache_dir() / "embeddings.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "::Cell" in report.nodeid:
        RAN.add(Path(report.nodeid.split("::")[0]).stem)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Say which solutions nbval ran (one file per xdist worker), for the after_all check."""
    if RAN:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        out = ROOT / "outputs" / f"nbval-ran-{worker}.txt"
        out.parent.mkdir(exist_ok=True)
        out.write_text("\n".join(sorted(RAN)) + "\n")


def _expected_length(item: pytest.Item) -> int:
    """Rough rank of a test file's run time, longest first: the browser runs of the
    solutions, the solutions under nbval, the other browser tests, the rest."""
    if item.path.name == "test_ui_solutions.py":
        return 0
    if item.path.suffix == ".ipynb":
        return 1
    return 2 if item.get_closest_marker("ui") else 3


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest files first (a stable sort: a file's tests and a notebook's cells keep their
    order), so that make test's two workers finish together: xdist hands out whole files in
    this order (``--dist loadfile --no-loadscope-reorder``); by default it would sort them by
    test count, and the four browser runs of the solutions would start last."""
    items.sort(key=_expected_length)


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2, loaded once. Tests must not modify it (use monkeypatch)."""
    import embedlab

    return embedlab.load_model("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture(scope="session")
def static_model():
    """The static model distilled from MiniLM (built once into the embedlab cache)."""
    import embedlab

    return embedlab.load_model("static-MiniLM-L6-v2-256d", device="cpu")


@pytest.fixture(scope="session")
def mpnet():
    """all-mpnet-base-v2, unpacked once from its five PyPI parts, loaded once per session."""
    import embedlab

    return embedlab.load_model("all-mpnet-base-v2", device="cpu")


@pytest.fixture(scope="session")
def course_minilm(minilm):
    """MiniLM's result on the course retrieval set (``evaluate_model``, k=100), computed once
    through a throw-away in-memory cache: the run, the scores and the unit-length embeddings."""
    import embedlab
    from embedlab.cache import EmbeddingCache

    with EmbeddingCache(":memory:") as cache:
        return embedlab.evaluate_model(minilm, embedlab.load_course_retrieval(), cache=cache)


@pytest.fixture
def private_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary ``EMBEDLAB_CACHE_DIR``: never touch the learner's cache folder."""
    folder = tmp_path / "embedlab-cache"
    monkeypatch.setenv("EMBEDLAB_CACHE_DIR", str(folder))
    return folder

"""One disk cache for embeddings, and an index that re-embeds only what changed.

Every cached path (``embed(cache=True)``, ``evaluate_model``, :class:`IncrementalIndex`)
uses the same key: a sha256 of the text and of everything else that decides the vector
(:func:`spec_key`). So a sentence embedded in Lab 1 is a cache hit in Lab 2 for the same
model, text and settings.

Why SQLite (standard library): the cache is one file; each batch is written in one
transaction, so a killed kernel leaves every committed batch readable; readers never block
(WAL mode). Vectors are stored as raw float32 bytes, never pickled.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import CacheError, InvalidInputError, check_texts
from embedlab.models import cache_dir, encoder, model_name_of, weights_sha256

KEY_VERSION = "embedlab-key/2"
_MAGIC = b"SQLite format 3\x00"
_CHUNK = 900  # SQLite's oldest limit is 999 variables per statement


def spec_key(
    model: Any,
    kind: str | None = "document",
    normalize: bool = True,
    truncate_dim: int | None = None,
) -> str:
    """sha256 of everything but the text that decides a vector: model name, weights (sha256
    of the file, else of the tensors), compute dtype, kind and its prompt, settings."""
    weights = getattr(model, "cache_identity", None) or weights_sha256(model)
    params = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    if weights is None and params is not None:  # not loaded by load_model: hash the tensors
        digest = hashlib.sha256()
        for name, tensor in model.state_dict().items():
            digest.update(name.encode() + tensor.detach().cpu().float().numpy().tobytes())
        weights = digest.hexdigest()
    dtype = str(params.dtype) if params is not None else ""
    prompt = (getattr(model, "prompts", None) or {}).get(kind or "", "")
    fields = [
        KEY_VERSION,
        model_name_of(model),
        weights,
        dtype,
        kind,
        prompt,
        normalize,
        truncate_dim,
    ]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def text_key(spec: str, text: str) -> str:
    """The cache key of one text under a :func:`spec_key`."""
    return hashlib.sha256(f"{spec}\x00{text}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors in one SQLite file (default: ``embeddings.sqlite`` in the embedlab cache folder).

    A file that is not an embedlab cache raises :class:`CacheError` and is never modified.
    ``":memory:"`` gives a throw-away cache that leaves no file behind.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        path = cache_dir() / "embeddings.sqlite" if path is None else path
        self.path = path if str(path) == ":memory:" else Path(path).expanduser()
        if isinstance(self.path, Path) and self.path.is_dir():
            self.path = self.path / "embeddings.sqlite"
        self.hits = self.misses = 0
        self._lock = threading.RLock()
        if isinstance(self.path, Path) and self.path.exists():
            with open(self.path, "rb") as fh:
                header = fh.read(len(_MAGIC))
            if header and header != _MAGIC:
                raise self._unusable("it is not a SQLite database (wrong header)")
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            tables = {
                r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if tables and tables != {"vectors"}:
                raise self._unusable(
                    f"it is a SQLite database of another program (tables: {sorted(tables)})"
                )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS vectors "
                "(key TEXT PRIMARY KEY, model TEXT NOT NULL, vector BLOB NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            raise self._unusable(f"it is corrupt or not a database ({exc})") from exc

    def _unusable(self, why: str) -> CacheError:
        return CacheError(
            f"The embedding cache file {str(self.path)!r} cannot be used: {why}. It was left "
            "untouched. Delete it if you do not need it, or pass another file, e.g. "
            "EmbeddingCache('my_cache.sqlite')."
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of those keys that are in the cache."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk
                ):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
            self.hits += len(found)
            self.misses += len(set(keys)) - len(found)
        return found

    def put_many(self, keys: Sequence[str], vectors: np.ndarray, model: str) -> None:
        """Store one row of ``vectors`` per key, in one transaction."""
        rows = [
            (k, model, np.asarray(v, np.float32).tobytes())
            for k, v in zip(keys, vectors, strict=True)
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def stats(self) -> dict[str, int]:
        """Look-ups through this object (``hits``, ``misses``) and the file's ``entries``."""
        (entries,) = self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()
        return {"hits": self.hits, "misses": self.misses, "entries": entries}

    def clear(self, model: str | None = None) -> int:
        """Delete every vector (or one model's); return how many were deleted."""
        with self._lock:
            where, args = ("WHERE model = ?", [model]) if model else ("", [])
            return self._db.execute(f"DELETE FROM vectors {where}", args).rowcount

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.stats()
        counts = ", ".join(f"{k}={v}" for k, v in s.items())
        return f"EmbeddingCache({str(self.path)!r}, {counts})"


_DEFAULT: dict[str, EmbeddingCache] = {}


def default_cache() -> EmbeddingCache:
    """The process's cache on the default file (one object per file, shared by every path)."""
    path = str(cache_dir() / "embeddings.sqlite")
    if path not in _DEFAULT:
        _DEFAULT[path] = EmbeddingCache(path)
    return _DEFAULT[path]


def cached_encode(
    model: Any,
    texts: Sequence[str],
    *,
    kind: str | None = "document",
    normalize: bool = True,
    cache: EmbeddingCache | bool | None = True,
    encode: Callable[[list[str]], Any] | None = None,
    truncate_dim: int | None = None,
) -> np.ndarray:
    """Vectors of ``texts``: read from the cache, and only the missing texts encoded.

    ``encode`` defaults to the model's ``encode_query`` / ``encode_document`` with these
    settings; pass your own only if it computes exactly the same vectors.
    """
    items = check_texts(texts)
    if cache is True or cache is None:
        cache = default_cache()
    if not isinstance(cache, EmbeddingCache):
        raise CacheError(f"cache must be an EmbeddingCache or True, got {type(cache).__name__}.")
    if encode is None:
        method = encoder(model, kind)

        def encode(batch: list[str]) -> Any:
            return method(
                batch,
                normalize_embeddings=normalize,
                truncate_dim=truncate_dim,
                convert_to_numpy=True,
            )

    spec = spec_key(model, kind, normalize, truncate_dim)
    keys = [text_key(spec, t) for t in items]
    found = cache.get_many(keys)
    todo = list(dict.fromkeys(t for t, k in zip(items, keys, strict=True) if k not in found))
    if todo:
        new = np.asarray(encode(todo), dtype=np.float32)
        new_keys = [text_key(spec, t) for t in todo]
        cache.put_many(new_keys, new, model_name_of(model))
        found.update(zip(new_keys, new, strict=True))
    return np.stack([found[k] for k in keys])


@dataclass(frozen=True)
class UpdateReport:
    """What :meth:`IncrementalIndex.update` did; ``embedded`` counts texts the model encoded."""

    added: int
    changed: int
    removed: int
    unchanged: int
    embedded: int

    def __str__(self) -> str:
        return (
            f"added {self.added}, changed {self.changed}, removed {self.removed}, unchanged "
            f"{self.unchanged} -> embedded {self.embedded} texts"
        )


class IncrementalIndex:
    """A corpus index that embeds only new or edited documents on each :meth:`update`.

    It keeps a hash of each document's text; vectors go through the embedding cache.
    """

    def __init__(
        self, model: Any, cache: EmbeddingCache | bool = True, kind: str = "document"
    ) -> None:
        self.model, self.cache, self.kind = model, cache, kind
        self._hashes: dict[str, str] = {}
        self._vectors: dict[str, np.ndarray] = {}

    def update(self, corpus: Mapping[str, str]) -> UpdateReport:
        """Bring the index in line with ``corpus`` (``{doc_id: text}``)."""
        if not isinstance(corpus, Mapping):
            raise InvalidInputError(
                f"corpus must be a dict {{doc_id: text}}, got {type(corpus).__name__}."
            )
        if corpus:
            check_texts(list(corpus.values()), "corpus texts")
        new = {d: hashlib.sha256(t.encode()).hexdigest() for d, t in corpus.items()}
        added = [d for d in new if d not in self._hashes]
        changed = [d for d in new if d in self._hashes and self._hashes[d] != new[d]]
        removed = [d for d in self._hashes if d not in new]
        todo = added + changed
        embedded = 0
        if todo:
            count = []

            def encode(batch: list[str]) -> Any:
                count.append(len(batch))
                method = getattr(self.model, f"encode_{self.kind}")
                return method(batch, normalize_embeddings=True, convert_to_numpy=True)

            vectors = cached_encode(
                self.model,
                [corpus[d] for d in todo],
                kind=self.kind,
                cache=self.cache,
                encode=encode,
            )
            self._vectors.update(zip(todo, vectors, strict=True))
            embedded = sum(count)
        for d in removed:
            del self._vectors[d]
        self._hashes = new
        return UpdateReport(len(added), len(changed), len(removed), len(new) - len(todo), embedded)

    @property
    def ids(self) -> list[str]:
        """Document ids, in the order of the rows of :attr:`matrix`."""
        return list(self._hashes)

    @property
    def matrix(self) -> np.ndarray:
        """The ``(n_docs, dims)`` matrix of unit vectors."""
        return np.stack([self._vectors[d] for d in self._hashes])

    def __len__(self) -> int:
        return len(self._hashes)

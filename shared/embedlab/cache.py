"""An on-disk embedding cache and an incremental corpus index.

Embedding the same text twice with the same model and settings gives the same vector, so
it only needs to be computed once. :class:`EmbeddingCache` stores vectors on disk, keyed by
*everything* that can change them (:class:`EmbeddingSpec`), and :func:`cached_encode`
sends only the texts it has never seen to the model. :class:`IncrementalIndex` builds on
it: when a corpus changes, only new or edited documents are embedded again.

Five lines in a notebook::

    encode, spec = model_encoder(model, "document", model_id="all-MiniLM-L6-v2")
    index = IncrementalIndex(EmbeddingCache(), "faq", spec, encode)
    print(index.update(corpus))            # corpus = {doc_id: text}
    ids, matrix = index.ids, index.matrix  # aligned, ready for search

Why SQLite (``sqlite3`` from the standard library)?

* **One file.** The whole cache is one ``.sqlite`` file (plus a ``-wal`` side file while
  in use) that a learner can find, copy or delete. No server, nothing to install.
* **Atomic transactions.** Each batch of vectors is written in one transaction: a
  notebook kernel killed in the middle of a write leaves the file valid and every batch
  committed before still readable. A folder of ``.npy`` files gives no such guarantee.
* **Concurrent readers.** In WAL mode readers never block the writer nor each other, so
  two notebooks (or threads) can share one cache.
* **No extra dependency,** and a query by key is a B-tree look-up: fast enough that a
  warm cache is orders of magnitude faster than running the model.

Vectors are stored as raw bytes plus their dtype and shape and read back with
``np.frombuffer``: no pickle, so opening a cache file cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedlab._validate import check_texts
from embedlab.errors import CacheError, InvalidInputError

__all__ = [
    "SCHEMA_VERSION",
    "EmbeddingSpec",
    "EmbeddingCache",
    "CacheStats",
    "UpdateReport",
    "IncrementalIndex",
    "cached_encode",
    "default_cache_path",
    "model_encoder",
]

#: Version of the on-disk layout; a file with another version is refused, never migrated.
SCHEMA_VERSION = 1

_SQLITE_MAGIC = b"SQLite format 3\x00"
_KEY_VERSION = "embedlab-cache-key/1"
_PRECISIONS = ("float32", "float16", "int8", "uint8", "binary", "ubinary")
_SQL_CHUNK = 900  # below SQLite's oldest limit of 999 bound variables per statement

EncodeFn = Callable[[list[str]], Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    key        TEXT PRIMARY KEY,   -- sha256 of text + EmbeddingSpec
    spec_hash  TEXT NOT NULL,      -- sha256 of the EmbeddingSpec alone (for clear(spec))
    model_id   TEXT NOT NULL,
    dtype      TEXT NOT NULL,      -- numpy dtype string, e.g. '<f4'
    shape      TEXT NOT NULL,      -- JSON list, e.g. [384]
    vector     BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_by_spec ON embeddings (spec_hash);
CREATE TABLE IF NOT EXISTS indexes (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,      -- JSON of the EmbeddingSpec
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS index_docs (
    index_name   TEXT NOT NULL,
    doc_id       TEXT NOT NULL,
    position     INTEGER NOT NULL,
    content_hash TEXT NOT NULL,    -- sha256 of the document text
    key          TEXT NOT NULL,    -- row of its vector in `embeddings`
    PRIMARY KEY (index_name, doc_id)
);
"""


def default_cache_path() -> Path:
    """Where :class:`EmbeddingCache` keeps its file when no path is given.

    ``$EMBEDLAB_CACHE_DIR/embeddings.sqlite`` when that variable is set, else the per-user
    cache folder of the platform (``~/.cache/embedlab`` on Linux).

    Example:
        >>> os.environ["EMBEDLAB_CACHE_DIR"] = "/tmp/embedlab-demo"
        >>> default_cache_path()
        PosixPath('/tmp/embedlab-demo/embeddings.sqlite')
    """
    folder = os.environ.get("EMBEDLAB_CACHE_DIR", "").strip()
    if not folder:
        import platformdirs

        folder = platformdirs.user_cache_dir("embedlab")
    return Path(folder).expanduser() / "embeddings.sqlite"


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class EmbeddingSpec:
    """Everything besides the text that decides which vector a model returns.

    Build it once and pass it with every call; the cache key of a text is a sha256 of the
    text and all these fields, so changing any of them can never return a stale vector.

    Args:
        model_id: Name of the model, e.g. ``"all-MiniLM-L6-v2"``. Also stored in each row
            so a cache file bound to one model can refuse another.
        revision: Version of the weights (a hub commit, ``"v2"``, a weights fingerprint).
            :meth:`from_model` fills it from the weights themselves, so a fine-tuned
            model never reuses the vectors of its base model.
        prompt: The prompt used, as a name, a literal string or both
            (:meth:`from_model` writes ``"query='query: '"``). ``""`` for none.
        normalize: Whether vectors were scaled to unit length.
        truncate_dim: Matryoshka truncation, or ``None`` for the full dimension.
        precision: One of ``"float32"``, ``"float16"``, ``"int8"``, ``"uint8"``,
            ``"binary"``, ``"ubinary"``.

    Example:
        >>> spec = EmbeddingSpec("all-MiniLM-L6-v2", prompt="query")
        >>> spec.key("hello")[:12]
        '9cdd0849e3fd'
        >>> spec.key("hello") == EmbeddingSpec("all-MiniLM-L6-v2").key("hello")
        False
    """

    model_id: str
    revision: str = ""
    prompt: str = ""
    normalize: bool = False
    truncate_dim: int | None = None
    precision: str = "float32"
    _prefix: bytes = field(init=False, repr=False, compare=False)
    _hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.model_id, str) or not self.model_id.strip():
            raise InvalidInputError(
                f"EmbeddingSpec.model_id must be a non-empty string, got {self.model_id!r}. "
                "Pass the model name, e.g. EmbeddingSpec('all-MiniLM-L6-v2')."
            )
        for name in ("revision", "prompt"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"EmbeddingSpec.{name} must be a string, got {type(value).__name__} "
                    f"({value!r:.40}). Use '' when there is none."
                )
        if not isinstance(self.normalize, bool):
            raise InvalidInputError(
                f"EmbeddingSpec.normalize must be True or False, got {self.normalize!r}."
            )
        dim = self.truncate_dim
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0):
            raise InvalidInputError(
                f"EmbeddingSpec.truncate_dim must be a positive int or None, got {dim!r}."
            )
        if self.precision not in _PRECISIONS:
            raise InvalidInputError(
                f"EmbeddingSpec.precision {self.precision!r} is not one of {_PRECISIONS}."
            )
        fields = [
            _KEY_VERSION,
            self.model_id,
            self.revision,
            self.prompt,
            self.normalize,
            self.truncate_dim,
            self.precision,
        ]
        prefix = json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_hash", hashlib.sha256(prefix).hexdigest())

    @property
    def spec_hash(self) -> str:
        """sha256 of the spec alone: identifies every vector made with these settings."""
        return self._hash

    def key(self, text: str) -> str:
        """The cache key of ``text`` under this spec (sha256 hex digest).

        Example:
            >>> len(EmbeddingSpec("m").key("a text"))
            64
        """
        digest = hashlib.sha256(self._prefix)
        digest.update(json.dumps(text, ensure_ascii=True).encode("ascii"))
        return digest.hexdigest()

    def to_json(self) -> str:
        """The spec as a JSON object (stored with each :class:`IncrementalIndex`).

        Example:
            >>> EmbeddingSpec("m").to_json()
            '{"model_id": "m", "normalize": false, "precision": "float32", "prompt": "", "revision": "", "truncate_dim": null}'
        """  # noqa: E501
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_model(
        cls,
        model: Any,
        prompt_name: str | None = None,
        *,
        normalize: bool = False,
        truncate_dim: int | None = None,
        precision: str = "float32",
        model_id: str | None = None,
        revision: str | None = None,
    ) -> EmbeddingSpec:
        """The spec of ``model.encode(..., prompt_name=...)`` with these settings.

        Args:
            model: A loaded ``SentenceTransformer``.
            prompt_name: ``"query"``, ``"document"`` or another key of ``model.prompts``;
                ``None`` for no prompt.
            normalize: ``normalize_embeddings`` passed to ``encode``.
            truncate_dim: Matryoshka dimension; defaults to ``model.truncate_dim``.
            precision: ``precision`` passed to ``encode``.
            model_id: Name to record; defaults to what the model card knows, else the
                path it was loaded from. Pass a short stable name when you can.
            revision: Weights version; by default a sha256 fingerprint of the weights
                (about 0.2 s for MiniLM), so fine-tuning a model changes every key.

        Example:
            >>> spec = EmbeddingSpec.from_model(model, "query", model_id="all-MiniLM-L6-v2")
            >>> spec.model_id, spec.prompt, spec.revision[:8]
            ('all-MiniLM-L6-v2', "query=''", 'weights:')
        """
        prompts = dict(getattr(model, "prompts", None) or {})
        prompt = ""
        if prompt_name is not None:
            if prompt_name not in prompts and prompt_name not in ("query", "document"):
                raise InvalidInputError(
                    f"prompt_name {prompt_name!r} is not a prompt of this model. "
                    f"Known prompts: {sorted(prompts) or 'none'}; or pass prompt_name=None."
                )
            prompt = f"{prompt_name}={prompts.get(prompt_name, '')!r}"
        if model_id is None:
            card = getattr(model, "model_card_data", None)
            model_id = (
                getattr(card, "model_id", None)
                or getattr(card, "base_model", None)
                or str(getattr(getattr(model, "tokenizer", None), "name_or_path", "") or "")
                or type(model).__name__
            )
        if revision is None:
            revision = "weights:" + _weights_fingerprint(model)
        dtype = _compute_dtype(model)
        if dtype:  # the same weights computed in float16 and float32 give other vectors
            revision = f"{revision};compute={dtype}"
        if truncate_dim is None:
            truncate_dim = getattr(model, "truncate_dim", None)
        return cls(
            model_id=model_id,
            revision=revision,
            prompt=prompt,
            normalize=normalize,
            truncate_dim=truncate_dim,
            precision=precision,
        )


def _compute_dtype(model: Any) -> str | None:
    """The dtype the model computes in (``"float32"``...), or ``None`` if it has no tensors."""
    parameters = getattr(model, "parameters", None)
    if parameters is None:
        return None
    try:
        first = next(iter(parameters()))
    except (StopIteration, TypeError):
        return None
    return str(first.dtype).replace("torch.", "")


def _weights_fingerprint(model: Any) -> str:
    """Short sha256 over the names and bytes of every tensor in ``model.state_dict()``."""
    state_dict = getattr(model, "state_dict", None)
    if state_dict is None:
        return "unknown"
    digest = hashlib.sha256()
    for name, tensor in state_dict().items():
        digest.update(name.encode("utf-8"))
        array = tensor.detach().cpu()
        digest.update(str(array.dtype).encode("ascii"))
        try:
            digest.update(array.contiguous().numpy().tobytes())
        except (TypeError, RuntimeError):  # dtypes numpy lacks (bfloat16)
            digest.update(array.float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def model_encoder(
    model: Any,
    prompt_name: str | None = None,
    *,
    normalize: bool = False,
    truncate_dim: int | None = None,
    precision: str = "float32",
    batch_size: int = 32,
    model_id: str | None = None,
    revision: str | None = None,
) -> tuple[Callable[[list[str]], np.ndarray], EmbeddingSpec]:
    """An ``encode_fn`` for a SentenceTransformer and the spec that describes it.

    Building both in one place guarantees the spec matches what the function computes.
    ``prompt_name="query"`` / ``"document"`` use ``encode_query`` / ``encode_document``.

    Note: with ``precision="int8"``/``"uint8"`` sentence-transformers calibrates ranges on
    the batch being encoded, so the same text can quantise differently in another batch;
    prefer caching float32 and quantising afterwards.

    Example:
        >>> encode, spec = model_encoder(model, "query", model_id="all-MiniLM-L6-v2")
        >>> encode(["hello"]).shape, spec.prompt
        ((1, 384), "query=''")
    """
    spec = EmbeddingSpec.from_model(
        model,
        prompt_name,
        normalize=normalize,
        truncate_dim=truncate_dim,
        precision=precision,
        model_id=model_id,
        revision=revision,
    )
    if prompt_name == "query" and hasattr(model, "encode_query"):
        method, kwargs = model.encode_query, {}
    elif prompt_name == "document" and hasattr(model, "encode_document"):
        method, kwargs = model.encode_document, {}
    else:
        method, kwargs = model.encode, {"prompt_name": prompt_name}

    def encode_fn(texts: list[str]) -> np.ndarray:
        return method(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=normalize,
            truncate_dim=spec.truncate_dim,
            precision=precision,
            convert_to_numpy=True,
            show_progress_bar=False,
            **kwargs,
        )

    return encode_fn, spec


# --------------------------------------------------------------------------- cache


@dataclass(frozen=True)
class CacheStats:
    """Counters of an :class:`EmbeddingCache`.

    ``hits`` and ``misses`` count distinct texts looked up through this object (since
    it was opened); ``entries`` and ``size_bytes`` describe the file on disk (database
    plus write-ahead log).

    Example:
        >>> CacheStats(hits=3, misses=1, entries=4, size_bytes=8192).hit_rate
        0.75
    """

    hits: int
    misses: int
    entries: int
    size_bytes: int

    @property
    def hit_rate(self) -> float:
        """``hits / (hits + misses)``, 0.0 before any look-up."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


class EmbeddingCache:
    """Vectors on disk in one SQLite file, keyed by text + :class:`EmbeddingSpec`.

    Args:
        path: The ``.sqlite`` file (created if missing) or a folder to put
            ``embeddings.sqlite`` in. Default: :func:`default_cache_path`.
        expect_model: Bind the file to one model: refuse to open it (:class:`CacheError`)
            if it holds vectors of another model, and record the binding in an unbound
            file. Later look-ups and writes with another ``model_id`` raise too.

    Raises:
        CacheError: The file is not an embedlab cache (not SQLite, corrupt, another
            schema version, bound to another model). The file is never modified, so
            nothing cached is lost: delete it yourself or pass another ``path``.

    Example:
        >>> cache = EmbeddingCache(tmp_path / "demo.sqlite")
        >>> spec = EmbeddingSpec("toy")
        >>> cache.put("hello", spec, np.array([1.0, 0.0], dtype=np.float32))
        >>> cache.get("hello", spec)
        array([1., 0.], dtype=float32)
        >>> cache.get("bye", spec) is None
        True
        >>> cache
        EmbeddingCache('.../demo.sqlite', entries=1, hits=1, misses=1, size=...)
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, expect_model: str | None = None
    ):
        resolved = default_cache_path() if path is None else Path(path).expanduser()
        if resolved.is_dir():
            resolved = resolved / "embeddings.sqlite"
        self.path: Path = resolved
        self._lock = threading.RLock()
        self._hits = 0
        self._misses = 0
        self._conn: sqlite3.Connection | None = None
        self._check_header()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"Cannot create the folder of the embedding cache {str(self.path)!r}: {exc}. "
                "Pass a path you can write to, e.g. EmbeddingCache('embeddings.sqlite')."
            ) from exc
        try:
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._unusable(f"SQLite cannot open it ({exc})") from exc
        self._conn = conn
        try:
            self._open_schema()
            self._bound_model = self._bind(expect_model)
        except BaseException:
            self._conn = None
            conn.close()
            raise

    # -- opening ------------------------------------------------------------------

    def _unusable(self, why: str) -> CacheError:
        return CacheError(
            f"The embedding cache file {str(self.path)!r} cannot be used: {why}. "
            "It was left untouched. Delete it if you do not need it, or pass another "
            "file, e.g. EmbeddingCache('my_cache.sqlite')."
        )

    def _check_header(self) -> None:
        """Refuse a non-SQLite file before SQLite touches it."""
        if not self.path.exists():
            return
        try:
            with open(self.path, "rb") as fh:
                header = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise self._unusable(f"it cannot be read ({exc})") from exc
        if header and header != _SQLITE_MAGIC:
            raise self._unusable("it is not a SQLite database (wrong header)")

    def _open_schema(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.DatabaseError as exc:
            raise self._unusable(f"it is corrupt or not a database ({exc})") from exc
        if tables and "meta" not in tables:
            raise self._unusable(
                f"it is a SQLite database of another program (tables: {sorted(tables)})"
            )
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if not tables:
                with self._transaction():
                    # one statement at a time: executescript() would commit early
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.executemany(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                        [
                            ("schema_version", str(SCHEMA_VERSION)),
                            ("created_at", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
                        ],
                    )
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._unusable(f"it is corrupt or not a database ({exc})") from exc
        version = row[0] if row else None
        if version != str(SCHEMA_VERSION):
            raise self._unusable(
                f"its schema version is {version!r} but this embedlab uses "
                f"{SCHEMA_VERSION} (it was written by another version of embedlab)"
            )

    def _bind(self, expect_model: str | None) -> str | None:
        conn = self._conn
        assert conn is not None
        row = conn.execute("SELECT value FROM meta WHERE key = 'model_id'").fetchone()
        bound = row[0] if row else None
        if expect_model is None:
            return bound
        if bound is not None and bound != expect_model:
            raise CacheError(
                f"The embedding cache {str(self.path)!r} is bound to model {bound!r}, "
                f"not {expect_model!r}: its vectors are not comparable. Use another file "
                f"for {expect_model!r}, or open this one with expect_model={bound!r}."
            )
        if bound is None:
            with self._transaction():
                others = [
                    r[0]
                    for r in conn.execute(
                        "SELECT DISTINCT model_id FROM embeddings WHERE model_id != ? LIMIT 5",
                        (expect_model,),
                    )
                ]
                if others:
                    raise CacheError(
                        f"The embedding cache {str(self.path)!r} already holds vectors of "
                        f"{others}, so it cannot be bound to {expect_model!r}. Use another "
                        "file, or open it without expect_model."
                    )
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('model_id', ?)",
                    (expect_model,),
                )
        return expect_model

    # -- helpers --------------------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CacheError(
                f"The embedding cache {str(self.path)!r} is closed. Open it again: "
                f"EmbeddingCache({str(self.path)!r})."
            )
        return self._conn

    def _transaction(self, immediate: bool = True) -> _Transaction:
        return _Transaction(self._db, immediate)

    def _check_model(self, spec: EmbeddingSpec) -> None:
        if not isinstance(spec, EmbeddingSpec):
            raise InvalidInputError(
                f"spec must be an EmbeddingSpec, got {type(spec).__name__}. Build one with "
                "EmbeddingSpec('model-name') or EmbeddingSpec.from_model(model)."
            )
        if self._bound_model is not None and spec.model_id != self._bound_model:
            raise CacheError(
                f"The embedding cache {str(self.path)!r} is bound to model "
                f"{self._bound_model!r}, but the spec is for {spec.model_id!r}: this is a "
                "cache of another model. Use another cache file for this model."
            )

    def _lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of the given keys that are cached (read-only arrays)."""
        found: dict[str, np.ndarray] = {}
        with self._lock, self._transaction(immediate=False) as db:
            for start in range(0, len(keys), _SQL_CHUNK):
                chunk = keys[start : start + _SQL_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, dtype, shape, vector FROM embeddings WHERE key IN ({marks})",
                    list(chunk),
                )
                for key, dtype, shape, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.dtype(dtype)).reshape(
                        json.loads(shape)
                    )
        return found

    def _store(
        self, spec: EmbeddingSpec, items: Sequence[tuple[str, np.ndarray]], batch_size: int
    ) -> None:
        """Insert ``(key, vector)`` pairs, one transaction per ``batch_size`` rows."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}.")
        now = time.time()
        with self._lock:
            for start in range(0, len(items), batch_size):
                rows = []
                for key, vector in items[start : start + batch_size]:
                    array = np.ascontiguousarray(vector)
                    rows.append(
                        (
                            key,
                            spec.spec_hash,
                            spec.model_id,
                            array.dtype.str,
                            json.dumps(list(array.shape)),
                            array.tobytes(),
                            now,
                        )
                    )
                with self._transaction() as db:
                    db.executemany(
                        "INSERT OR REPLACE INTO embeddings "
                        "(key, spec_hash, model_id, dtype, shape, vector, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        rows,
                    )

    # -- public API -------------------------------------------------------------------

    def get_many(self, texts: Iterable[str], spec: EmbeddingSpec) -> list[np.ndarray | None]:
        """Cached vectors of ``texts`` (``None`` where missing), in input order.

        Example:
            >>> cache.get_many(["hello", "unknown"], spec)
            [array([1., 0.], dtype=float32), None]
        """
        items = check_texts(texts)
        self._check_model(spec)
        keys = [spec.key(t) for t in items]
        unique = list(dict.fromkeys(keys))
        found = self._lookup(unique)
        with self._lock:
            self._hits += len(found)
            self._misses += len(unique) - len(found)
        return [found[k].copy() if k in found else None for k in keys]

    def get(self, text: str, spec: EmbeddingSpec) -> np.ndarray | None:
        """The cached vector of one text, or ``None``.

        Example:
            >>> cache.get("hello", spec)
            array([1., 0.], dtype=float32)
        """
        return self.get_many([text], spec)[0]

    def put_many(
        self,
        texts: Iterable[str],
        spec: EmbeddingSpec,
        vectors: Any,
        *,
        batch_size: int = 1000,
    ) -> None:
        """Store one vector per text (rows of ``vectors``), one transaction per batch.

        Example:
            >>> cache.put_many(["a", "b"], spec, np.eye(2, dtype=np.float32))
            >>> cache.get("b", spec)
            array([0., 1.], dtype=float32)
        """
        items = check_texts(texts)
        self._check_model(spec)
        array = _as_matrix(vectors, len(items), "vectors")
        self._store(spec, [(spec.key(t), array[i]) for i, t in enumerate(items)], batch_size)

    def put(self, text: str, spec: EmbeddingSpec, vector: Any) -> None:
        """Store the vector of one text.

        Example:
            >>> cache.put("hello", spec, np.array([1.0, 0.0], dtype=np.float32))
        """
        self.put_many([text], spec, np.asarray(vector)[None, ...])

    def clear(self, spec: EmbeddingSpec | None = None) -> int:
        """Delete the vectors of one spec, or every vector; returns how many were deleted.

        :class:`IncrementalIndex` contents stay; their vectors are re-embedded on the
        next ``update``. The file shrinks on disk (best effort ``VACUUM``).

        Example:
            >>> cache.clear(spec)
            3
            >>> cache.stats().entries
            0
        """
        if spec is not None:
            self._check_model(spec)
        with self._lock:
            with self._transaction() as db:
                if spec is None:
                    cursor = db.execute("DELETE FROM embeddings")
                else:
                    cursor = db.execute(
                        "DELETE FROM embeddings WHERE spec_hash = ?", (spec.spec_hash,)
                    )
                removed = cursor.rowcount
            if removed:
                try:
                    self._db.execute("VACUUM")
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.OperationalError:  # other connections busy: shrink later
                    pass
        return removed

    def stats(self) -> CacheStats:
        """Hits and misses of this object, entries and bytes of the file.

        Example:
            >>> cache.stats()
            CacheStats(hits=1, misses=1, entries=1, size_bytes=...)
        """
        with self._lock:
            (entries,) = self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()
            hits, misses = self._hits, self._misses
        size = 0
        for suffix in ("", "-wal"):
            try:
                size += os.path.getsize(str(self.path) + suffix)
            except OSError:
                pass
        return CacheStats(hits=hits, misses=misses, entries=entries, size_bytes=size)

    def close(self) -> None:
        """Close the file. Safe to call twice."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._conn is None:
            return f"EmbeddingCache({str(self.path)!r}, closed)"
        s = self.stats()
        bound = f", model={self._bound_model!r}" if self._bound_model else ""
        return (
            f"EmbeddingCache({str(self.path)!r}{bound}, entries={s.entries}, hits={s.hits}, "
            f"misses={s.misses}, size={_human_size(s.size_bytes)})"
        )


class _Transaction:
    """``with`` block around BEGIN [IMMEDIATE] ... COMMIT / ROLLBACK (autocommit conn)."""

    def __init__(self, conn: sqlite3.Connection, immediate: bool) -> None:
        self.conn = conn
        self.immediate = immediate
        self.owner = False

    def __enter__(self) -> sqlite3.Connection:
        if not self.conn.in_transaction:  # nested use joins the outer transaction
            self.conn.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
            self.owner = True
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if not self.owner:
            return
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def _as_matrix(vectors: Any, n: int, what: str) -> np.ndarray:
    """``vectors`` as a numpy array with ``n`` rows, or a clear error."""
    if hasattr(vectors, "detach"):  # torch tensor
        vectors = vectors.detach().cpu().numpy()
    elif isinstance(vectors, list) and vectors and hasattr(vectors[0], "detach"):
        vectors = np.stack([v.detach().cpu().numpy() for v in vectors])
    array = np.asarray(vectors)
    if array.ndim < 2 or array.shape[0] != n:
        raise InvalidInputError(
            f"{what} has shape {array.shape}, expected {n} rows (one vector per text). "
            "An encode_fn must take a list of texts and return one row per text, "
            "e.g. model.encode(texts)."
        )
    if array.dtype == object:
        raise InvalidInputError(f"{what} is not numeric (dtype=object); return a numpy array.")
    return array


# --------------------------------------------------------------------------- encode


def _cached_encode(
    encode_fn: EncodeFn,
    texts: list[str],
    spec: EmbeddingSpec,
    cache: EmbeddingCache,
    batch_size: int,
) -> tuple[np.ndarray, int]:
    """:func:`cached_encode` plus the number of texts sent to ``encode_fn``."""
    if not callable(encode_fn):
        raise InvalidInputError(
            f"encode_fn must be callable (texts -> array), got {type(encode_fn).__name__}. "
            "Pass e.g. model.encode_document, not model.encode_document(texts)."
        )
    if not isinstance(cache, EmbeddingCache):
        raise InvalidInputError(
            f"cache must be an EmbeddingCache, got {type(cache).__name__}: "
            "EmbeddingCache() or EmbeddingCache('file.sqlite')."
        )
    cache._check_model(spec)
    keys = [spec.key(t) for t in texts]
    first: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        first.setdefault(key, text)
    found = cache._lookup(list(first))
    missing = [k for k in first if k not in found]
    with cache._lock:
        cache._hits += len(found)
        cache._misses += len(missing)
    if missing:
        new = _as_matrix(encode_fn([first[k] for k in missing]), len(missing), "encode_fn(...)")
        if found:
            known_shape = next(iter(found.values())).shape
            if new.shape[1:] != known_shape:
                raise CacheError(
                    f"encode_fn returned vectors of shape {new.shape[1:]} but the cache holds "
                    f"vectors of shape {known_shape} for the same spec ({spec}). The spec does "
                    "not describe this encode_fn: build both with model_encoder(model, ...)."
                )
        items = [(k, new[i]) for i, k in enumerate(missing)]
        cache._store(spec, items, batch_size)
        found.update(items)
    return np.stack([found[k] for k in keys]), len(missing)


def cached_encode(
    encode_fn: EncodeFn,
    texts: str | Iterable[str],
    spec: EmbeddingSpec,
    cache: EmbeddingCache,
    batch_size: int = 1000,
) -> np.ndarray:
    """Embed ``texts`` with ``encode_fn``, computing only what ``cache`` lacks.

    All texts are looked up; the missing ones (each distinct text once) go to
    ``encode_fn`` in a single call, are stored, and every vector is returned in input
    order. ``encode_fn`` is any callable ``list[str] -> array``: ``model.encode_query``,
    ``functools.partial(model.encode, normalize_embeddings=True)``, an API client...
    The ``spec`` must describe what it computes (:func:`model_encoder` builds both).

    Args:
        encode_fn: Function from a list of texts to an array with one row per text.
        texts: A string or a list of non-empty strings.
        spec: The :class:`EmbeddingSpec` of ``encode_fn``.
        cache: Where vectors are looked up and stored.
        batch_size: Rows written per SQLite transaction.

    Returns:
        Array of shape ``(len(texts), dim)`` (2-D even for a single string).

    Example:
        >>> encode, spec = model_encoder(model, "document", model_id="all-MiniLM-L6-v2")
        >>> cached_encode(encode, ["a cat", "a dog", "a cat"], spec, cache).shape
        (3, 384)
        >>> cache.stats()
        CacheStats(hits=0, misses=2, entries=2, size_bytes=...)
    """
    items = check_texts(texts)
    matrix, _ = _cached_encode(encode_fn, items, spec, cache, batch_size)
    return matrix


# --------------------------------------------------------------------------- index


@dataclass(frozen=True, repr=False)
class UpdateReport:
    """What :meth:`IncrementalIndex.update` did. Each field but ``embedded`` lists doc ids.

    ``embedded`` is the number of texts actually sent to ``encode_fn``: ``added +
    changed`` in general, fewer when some texts were already cached (a duplicate, a text
    seen before), more when vectors were removed from the cache since the last update.

    Example:
        >>> print(UpdateReport(("d9",), ("d1", "d2"), (), ("d3",), embedded=3))
        added 1, changed 2, removed 0, unchanged 1 -> embedded 3 texts
    """

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]
    embedded: int

    def __str__(self) -> str:
        return (
            f"added {len(self.added)}, changed {len(self.changed)}, removed "
            f"{len(self.removed)}, unchanged {len(self.unchanged)} -> embedded "
            f"{self.embedded} texts"
        )

    def __repr__(self) -> str:
        return (
            f"UpdateReport(added={len(self.added)}, changed={len(self.changed)}, "
            f"removed={len(self.removed)}, unchanged={len(self.unchanged)}, "
            f"embedded={self.embedded})"
        )


def _content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class IncrementalIndex:
    """A named, persistent ``{doc_id: vector}`` index that re-embeds only what changed.

    The index lives in the cache file (tables ``indexes`` and ``index_docs``): for each
    document it keeps the sha256 of its text and the key of its vector; vectors
    themselves are the cache's, so identical texts are embedded once.

    Args:
        cache: The :class:`EmbeddingCache` holding the index and its vectors.
        name: Name of the index in that file, e.g. ``"faq"``.
        spec: How vectors are made. Reopening an index with another spec raises
            :class:`CacheError` (use another name, or :meth:`drop` it first).
        encode_fn: ``list[str] -> array`` matching ``spec`` (see :func:`model_encoder`).
        batch_size: Rows written per SQLite transaction.

    Example:
        >>> index = IncrementalIndex(cache, "faq", spec, encode)
        >>> index.update({"a": "How do I reset my password?", "b": "Opening hours"})
        UpdateReport(added=2, changed=0, removed=0, unchanged=0, embedded=2)
        >>> index.update({"a": "How can I reset my password?", "c": "Refunds"})
        UpdateReport(added=1, changed=1, removed=1, unchanged=0, embedded=2)
        >>> index.ids, index.matrix.shape
        (['a', 'c'], (2, 384))
    """

    def __init__(
        self,
        cache: EmbeddingCache,
        name: str,
        spec: EmbeddingSpec,
        encode_fn: EncodeFn,
        *,
        batch_size: int = 1000,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(
                f"The index name must be a non-empty string, got {name!r}, e.g. 'faq'."
            )
        if not isinstance(cache, EmbeddingCache):
            raise InvalidInputError(f"cache must be an EmbeddingCache, got {type(cache).__name__}.")
        cache._check_model(spec)
        self.cache = cache
        self.name = name
        self.spec = spec
        self.encode_fn = encode_fn
        self.batch_size = batch_size
        with cache._lock:
            row = cache._db.execute("SELECT spec FROM indexes WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != spec.to_json():
                raise CacheError(
                    f"The index {name!r} in {str(cache.path)!r} was built with spec "
                    f"{row[0]}, not {spec.to_json()}. Its vectors would not be comparable: "
                    f"use another index name, or IncrementalIndex(cache, {name!r}, "
                    "<old spec>, ...).drop() first."
                )
            docs = cache._db.execute(
                "SELECT doc_id, content_hash, key FROM index_docs "
                "WHERE index_name = ? ORDER BY position",
                (name,),
            ).fetchall()
        self._ids: list[str] = [d[0] for d in docs]
        self._hashes: dict[str, str] = {d[0]: d[1] for d in docs}
        self._matrix: np.ndarray | None = None
        if docs:
            found = cache._lookup([d[2] for d in docs])
            if len(found) == len({d[2] for d in docs}):
                self._matrix = np.stack([found[d[2]] for d in docs])
        else:
            self._matrix = np.empty((0, 0), dtype=np.float32)

    @property
    def ids(self) -> list[str]:
        """Document ids, aligned with the rows of :attr:`matrix`."""
        return list(self._ids)

    @property
    def matrix(self) -> np.ndarray:
        """Vectors, one row per id of :attr:`ids` (``(0, 0)`` when empty)."""
        if self._matrix is None:
            raise CacheError(
                f"Some vectors of index {self.name!r} are no longer in the cache (was it "
                "cleared?). Call index.update(corpus) to re-embed them."
            )
        return self._matrix

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return (
            f"IncrementalIndex({self.name!r}, docs={len(self._ids)}, "
            f"model={self.spec.model_id!r}, cache={str(self.cache.path)!r})"
        )

    def update(self, corpus: Mapping[str, str]) -> UpdateReport:
        """Make the index match ``corpus`` (``{doc_id: text}``), embedding only changes.

        New and edited documents are embedded (through the cache), removed ones are
        dropped, unchanged ones are kept. Ids follow the order of ``corpus``.

        Example:
            >>> index.update({"a": "How can I reset my password?", "c": "Refunds"})
            UpdateReport(added=0, changed=0, removed=0, unchanged=2, embedded=0)
        """
        if not isinstance(corpus, Mapping):
            raise InvalidInputError(
                f"corpus must be a dict {{doc_id: text}}, got {type(corpus).__name__}. "
                "For a list of texts use {str(i): t for i, t in enumerate(texts)}."
            )
        ids: list[str] = []
        texts: list[str] = []
        for doc_id, text in corpus.items():
            if not isinstance(doc_id, str):
                raise InvalidInputError(
                    f"corpus key {doc_id!r} is a {type(doc_id).__name__}; doc ids must be "
                    "strings. Convert them, e.g. {str(k): v for k, v in corpus.items()}."
                )
            check_texts(text, what=f"corpus[{doc_id!r}]")
            ids.append(doc_id)
            texts.append(text)
        hashes = [_content_hash(t) for t in texts]
        added, changed, unchanged = [], [], []
        for doc_id, h in zip(ids, hashes, strict=True):
            old = self._hashes.get(doc_id)
            (added if old is None else unchanged if old == h else changed).append(doc_id)
        new_ids = set(ids)
        removed = [d for d in self._ids if d not in new_ids]

        if texts:
            matrix, embedded = _cached_encode(
                self.encode_fn, texts, self.spec, self.cache, self.batch_size
            )
        else:
            matrix, embedded = np.empty((0, 0), dtype=np.float32), 0

        now = time.time()
        spec_json = self.spec.to_json()
        with self.cache._lock, self.cache._transaction() as db:
            db.execute(
                "INSERT INTO indexes (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET updated_at = excluded.updated_at",
                (self.name, spec_json, now, now),
            )
            db.execute("DELETE FROM index_docs WHERE index_name = ?", (self.name,))
            db.executemany(
                "INSERT INTO index_docs (index_name, doc_id, position, content_hash, key) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (self.name, doc_id, i, h, self.spec.key(text))
                    for i, (doc_id, h, text) in enumerate(zip(ids, hashes, texts, strict=True))
                ],
            )
        self._ids = ids
        self._hashes = dict(zip(ids, hashes, strict=True))
        self._matrix = matrix
        return UpdateReport(
            added=tuple(added),
            changed=tuple(changed),
            removed=tuple(removed),
            unchanged=tuple(unchanged),
            embedded=embedded,
        )

    def drop(self) -> None:
        """Delete this index from the file (its vectors stay cached).

        Example:
            >>> index.drop()
            >>> len(index)
            0
        """
        with self.cache._lock, self.cache._transaction() as db:
            db.execute("DELETE FROM index_docs WHERE index_name = ?", (self.name,))
            db.execute("DELETE FROM indexes WHERE name = ?", (self.name,))
        self._ids, self._hashes = [], {}
        self._matrix = np.empty((0, 0), dtype=np.float32)

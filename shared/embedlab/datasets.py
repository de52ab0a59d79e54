"""Datasets used in the course labs.

Two kinds of data ship with embedlab:

* the **Lab 1 sentence set** (:func:`load_sentences`): 96 short sentences in five topics,
  with paraphrase pairs and hard-negative pairs marked;
* **retrieval sets in BEIR format** (:func:`load_beir`, :func:`load_course_retrieval`):
  a folder with ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

Every loader checks its input and raises :class:`~embedlab.errors.DatasetFormatError`
naming the file, the 1-based line number and the problem, so a malformed file is found
before it produces a silently wrong evaluation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from embedlab.errors import DatasetFormatError, InvalidInputError

__all__ = [
    "BeirDataset",
    "course_retrieval_path",
    "hard_negative_pairs",
    "load_beir",
    "load_course_retrieval",
    "load_sentences",
    "paraphrase_pairs",
]

_LAB1_FILE = "lab1_sentences.csv"
_LAB1_COLUMNS = ["id", "text", "topic", "pair_id", "note"]
_PAIR_COLUMNS = ["pair_id", "text_a", "text_b", "topic"]
_COURSE_RETRIEVAL_DIR = "course_retrieval"
_QRELS_HEADER = ("query-id", "corpus-id", "score")


# --------------------------------------------------------------------------- Lab 1 sentences


def _data_dir() -> Any:
    """Return the ``embedlab/data`` folder as an importlib.resources Traversable."""
    return resources.files("embedlab") / "data"


def load_sentences() -> pd.DataFrame:
    """Load the Lab 1 sentence set shipped with embedlab.

    The table has one row per sentence and the columns ``id``, ``text``, ``topic``,
    ``pair_id`` and ``note``. ``pair_id`` links the two sentences of a pair (``"p01"``...
    for paraphrases, ``"n01"``... for hard negatives) and ``note`` says which kind
    (``"paraphrase"`` or ``"hard_negative"``); both are empty strings for the other
    sentences. The file is read through :mod:`importlib.resources`, so this works from a
    source checkout and from an installed wheel alike.

    Returns:
        A DataFrame of 96 rows; every column holds strings.

    Raises:
        DatasetFormatError: If the packaged file is missing or lacks a column (a broken
            installation: reinstall embedlab).

    Example:
        >>> df = load_sentences()
        >>> df.shape
        (96, 5)
        >>> sorted(df["topic"].unique())
        ['account security', 'cooking', 'devices', 'sports', 'travel']
    """
    source = _data_dir() / _LAB1_FILE
    if not source.is_file():
        raise DatasetFormatError(
            f"{_LAB1_FILE}: the Lab 1 sentence file is missing from the embedlab package "
            f"(looked in {source}). Reinstall embedlab (`pip install -e .` in the course "
            "repository root)."
        )
    with source.open("r", encoding="utf-8") as f:
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
    missing = [c for c in _LAB1_COLUMNS if c not in df.columns]
    if missing:
        raise DatasetFormatError(
            f"{_LAB1_FILE}, line 1: the header lacks the column(s) {missing}; expected "
            f"{_LAB1_COLUMNS}. Reinstall embedlab to restore the original file."
        )
    return df[_LAB1_COLUMNS].reset_index(drop=True)


def _pairs(df: pd.DataFrame | None, note: str) -> pd.DataFrame:
    """Return the pairs of ``df`` whose ``note`` equals ``note``, one row per pair."""
    if df is None:
        df = load_sentences()
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(
            f"expected the DataFrame returned by load_sentences(), got {type(df).__name__}. "
            "Call load_sentences() first and pass its result."
        )
    missing = [c for c in ("text", "topic", "pair_id", "note") if c not in df.columns]
    if missing:
        raise InvalidInputError(
            f"the DataFrame lacks the column(s) {missing}. Pass the table returned by "
            "load_sentences() (or a filtered copy that keeps all its columns)."
        )
    rows = []
    selected = df[df["note"] == note]
    for pair_id, group in selected.groupby("pair_id", sort=True):
        if len(group) != 2:
            raise DatasetFormatError(
                f"pair {pair_id!r} has {len(group)} sentence(s) marked {note!r}; a pair needs "
                "exactly 2. If you filtered the table, keep both sentences of each pair."
            )
        first, second = group.iloc[0], group.iloc[1]
        rows.append((pair_id, first["text"], second["text"], first["topic"]))
    return pd.DataFrame(rows, columns=_PAIR_COLUMNS)


def paraphrase_pairs(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return the paraphrase pairs (same meaning, different words), one row per pair.

    Args:
        df: The table from :func:`load_sentences`, possibly filtered (keep both sentences of
            every pair). ``None`` loads it.

    Returns:
        A DataFrame with the columns ``pair_id``, ``text_a``, ``text_b`` and ``topic``,
        sorted by ``pair_id``.

    Raises:
        InvalidInputError: If ``df`` is not a DataFrame with the Lab 1 columns.
        DatasetFormatError: If a pair does not have exactly two sentences.

    Example:
        >>> pairs = paraphrase_pairs(load_sentences())
        >>> pairs.columns.tolist()
        ['pair_id', 'text_a', 'text_b', 'topic']
        >>> pairs.iloc[0]["pair_id"]
        'p01'
    """
    return _pairs(df, "paraphrase")


def hard_negative_pairs(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return the hard-negative pairs (shared words, different meaning), one row per pair.

    Args:
        df: The table from :func:`load_sentences`, possibly filtered (keep both sentences of
            every pair). ``None`` loads it.

    Returns:
        A DataFrame with the columns ``pair_id``, ``text_a``, ``text_b`` and ``topic``,
        sorted by ``pair_id``.

    Raises:
        InvalidInputError: If ``df`` is not a DataFrame with the Lab 1 columns.
        DatasetFormatError: If a pair does not have exactly two sentences.

    Example:
        >>> pairs = hard_negative_pairs()
        >>> pairs.iloc[0][["text_a", "text_b"]].tolist()
        ['My account was suspended yesterday afternoon.', 'My account was created yesterday afternoon.']
    """  # noqa: E501
    return _pairs(df, "hard_negative")


# --------------------------------------------------------------------------- BEIR format


def join_title(title: str | None, text: str | None) -> str:
    """The text to embed for a document: its title and body as one sentence sequence.

    Example:
        >>> join_title("Wi-Fi", "Restart it."), join_title("Why?", "Because.")
        ('Wi-Fi. Restart it.', 'Why? Because.')
    """
    title, text = (title or "").strip(), (text or "").strip()
    if not title:
        return text
    if not text:
        return title
    sep = " " if title[-1] in ".?!:;" else ". "
    return f"{title}{sep}{text}"


@dataclass(frozen=True)
class BeirDataset:
    """A retrieval test set in BEIR format, loaded by :func:`load_beir`.

    Attributes:
        corpus: ``{doc_id: {"title": str, "text": str}}`` in file order; ``title`` is ``""``
            when the document has none.
        queries: ``{query_id: text}`` in file order. This holds *every* query of
            ``queries.jsonl``, including queries without judgements in the chosen split
            (BEIR files often share one queries file between splits); use
            :meth:`queries_with_qrels` for the queries to evaluate on.
        qrels: ``{query_id: {doc_id: score}}``, graded relevance judgements (0 = judged not
            relevant, higher = more relevant).
        name: A short name for display, by default the folder name.

    Example:
        >>> ds = load_course_retrieval()  # doctest: +SKIP
        >>> ds.doc_ids[:2], ds.doc_texts()[:1]  # doctest: +SKIP
        (['d001', 'd002'], ['Reset your password. Open Settings > Security and ...'])
    """

    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    name: str = "beir"

    @property
    def doc_ids(self) -> list[str]:
        """Document ids in corpus order (aligned with :meth:`doc_texts`)."""
        return list(self.corpus)

    @property
    def query_ids(self) -> list[str]:
        """Ids of all queries in file order (aligned with :meth:`query_texts`)."""
        return list(self.queries)

    def doc_texts(self) -> list[str]:
        """Return the text to embed for each document, aligned with :attr:`doc_ids`.

        Returns:
            ``title + ". " + text`` when the document has a title, else ``text``.

        Example:
            >>> ds = BeirDataset({"d1": {"title": "Wi-Fi", "text": "Restart it."}}, {}, {})
            >>> ds.doc_texts()
            ['Wi-Fi. Restart it.']
        """
        return [
            join_title(doc.get("title", ""), doc.get("text", "")) for doc in self.corpus.values()
        ]

    def query_texts(self) -> list[str]:
        """Return the text of every query, aligned with :attr:`query_ids`."""
        return list(self.queries.values())

    def relevant(self, min_score: int = 1) -> dict[str, set[str]]:
        """Return the relevant documents of each query.

        Args:
            min_score: The lowest qrels score that counts as relevant (1 keeps partially
                relevant documents of a 0/1/2 scale, 2 keeps only the highly relevant).

        Returns:
            ``{query_id: {doc_id, ...}}`` for the queries with at least one document
            scoring ``>= min_score``; queries without any are left out.

        Example:
            >>> ds = BeirDataset({}, {"q1": "wifi"}, {"q1": {"d1": 2, "d2": 1, "d3": 0}})
            >>> ds.relevant() == {"q1": {"d1", "d2"}}
            True
            >>> ds.relevant(min_score=2)
            {'q1': {'d1'}}
        """
        out: dict[str, set[str]] = {}
        for qid, judged in self.qrels.items():
            docs = {did for did, score in judged.items() if score >= min_score}
            if docs:
                out[qid] = docs
        return out

    def queries_with_qrels(self, min_score: int = 1) -> dict[str, str]:
        """Return the queries that have at least one relevant document.

        Queries without judgements cannot be scored (recall and nDCG are undefined for
        them), so evaluate on these rather than on :attr:`queries`.

        Args:
            min_score: The lowest qrels score that counts as relevant.

        Returns:
            ``{query_id: text}`` in file order.

        Example:
            >>> ds = BeirDataset({}, {"q1": "wifi", "q2": "tea"}, {"q1": {"d1": 1}})
            >>> ds.queries_with_qrels()
            {'q1': 'wifi'}
        """
        rel = self.relevant(min_score)
        return {qid: text for qid, text in self.queries.items() if qid in rel}

    def __repr__(self) -> str:
        """Summarise the dataset by its counts instead of printing every document."""
        judgements = sum(len(j) for j in self.qrels.values())
        return (
            f"BeirDataset(name={self.name!r}, docs={len(self.corpus)}, "
            f"queries={len(self.queries)} ({len(self.queries_with_qrels())} with relevant "
            f"docs), judgements={judgements})"
        )


def _error(file: Path, line: int | None, problem: str, fix: str = "") -> DatasetFormatError:
    """Build a DatasetFormatError that names the file and (1-based) line."""
    where = f"{file}, line {line}" if line is not None else f"{file}"
    message = f"{where}: {problem}"
    if fix:
        message += f" {fix}"
    return DatasetFormatError(message)


def _lines(file: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for the non-blank lines of ``file`` (1-based)."""
    with open(file, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _error(
                    file,
                    number,
                    f"is not valid UTF-8 ({exc.reason} at byte {exc.start}).",
                    "Save the file with UTF-8 encoding.",
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            line = line.rstrip("\r\n")
            if line.strip():
                yield number, line


def _read_jsonl(file: Path, kind: str) -> dict[str, tuple[dict[str, Any], int]]:
    """Read a BEIR JSONL file into ``{id: (record, line_number)}`` with checks."""
    records: dict[str, tuple[dict[str, Any], int]] = {}
    for number, line in _lines(file):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _error(
                file,
                number,
                f"not valid JSON ({exc.msg} at column {exc.colno}).",
                f'Each line must be one JSON object, e.g. {{"_id": "{kind[0]}1", "text": "..."}}.',
            ) from None
        if not isinstance(record, dict):
            raise _error(
                file,
                number,
                f"expected a JSON object, got a JSON {type(record).__name__}.",
                f'Each line must look like {{"_id": "{kind[0]}1", "text": "..."}}.',
            )
        if "_id" not in record:
            raise _error(
                file,
                number,
                "the record has no '_id' field.",
                f"Give every {kind} a unique string id under the key '_id'.",
            )
        raw_id = record["_id"]
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise _error(
                file,
                number,
                f"'_id' must be a string, got {type(raw_id).__name__} ({raw_id!r}).",
                'Use a string id such as "d17".',
            )
        rid = str(raw_id).strip()
        if not rid:
            raise _error(file, number, "'_id' is empty.", f"Give every {kind} a non-empty id.")
        if rid in records:
            raise _error(
                file,
                number,
                f"duplicate id {rid!r} (first used on line {records[rid][1]}).",
                f"Every {kind} id must be unique: rename or remove one of them.",
            )
        if "text" not in record:
            raise _error(
                file,
                number,
                f"{kind} {rid!r} has no 'text' field.",
                f"Add the {kind} text under the key 'text'.",
            )
        for key in ("text", "title"):
            value = record.get(key)
            if key == "title" and value is None:
                continue
            if not isinstance(value, str):
                raise _error(
                    file,
                    number,
                    f"'{key}' of {kind} {rid!r} must be a string, got {type(value).__name__}.",
                    "Store the text as a JSON string.",
                )
        records[rid] = (record, number)
    return records


def _read_corpus(file: Path) -> dict[str, dict[str, str]]:
    corpus: dict[str, dict[str, str]] = {}
    for did, (record, number) in _read_jsonl(file, "document").items():
        title = (record.get("title") or "").strip()
        text = record["text"]
        if not text.strip() and not title:
            raise _error(
                file,
                number,
                f"document {did!r} has an empty 'text' (and no title).",
                "Remove the document or give it some text: an empty document cannot be "
                "embedded or retrieved.",
            )
        corpus[did] = {"title": title, "text": text}
    if not corpus:
        raise _error(
            file,
            None,
            "the corpus is empty: it contains no documents.",
            'Add one JSON object per line, e.g. {"_id": "d1", "title": "", "text": "..."}.',
        )
    return corpus


def _read_queries(file: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for qid, (record, number) in _read_jsonl(file, "query").items():
        text = record["text"]
        if not text.strip():
            raise _error(
                file,
                number,
                f"query {qid!r} has an empty 'text'.",
                "Remove the query or write its text.",
            )
        queries[qid] = text
    if not queries:
        raise _error(
            file,
            None,
            "the file contains no queries.",
            'Add one JSON object per line, e.g. {"_id": "q1", "text": "..."}.',
        )
    return queries


def _read_qrels(
    file: Path, corpus: dict[str, dict[str, str]], queries: dict[str, str]
) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    first = True
    for number, line in _lines(file):
        fields = [f.strip() for f in line.split("\t")]
        if first and tuple(f.lower() for f in fields) == _QRELS_HEADER:
            first = False
            continue
        first = False
        if len(fields) != 3:
            hint = "Each line must be: query-id<TAB>corpus-id<TAB>score."
            if len(fields) == 1 and len(line.split()) >= 3:
                hint += " The columns seem to be separated by spaces: use tab characters."
            elif len(fields) == 4:
                hint += " This looks like TREC qrels (qid 0 docid score): drop the 2nd column."
            raise _error(
                file, number, f"expected 3 tab-separated columns, found {len(fields)}.", hint
            )
        qid, did, raw_score = fields
        try:
            score = int(raw_score)
        except ValueError:
            raise _error(
                file,
                number,
                f"score {raw_score!r} is not an integer.",
                "Use whole-number relevance grades such as 0, 1 or 2.",
            ) from None
        if score < 0:
            raise _error(
                file,
                number,
                f"score {score} is negative.",
                "Use grades >= 0 (0 = not relevant); leave unjudged documents out.",
            )
        if qid not in queries:
            raise _error(
                file,
                number,
                f"query id {qid!r} is not in queries.jsonl.",
                "Fix the id or add the query to queries.jsonl.",
            )
        if did not in corpus:
            raise _error(
                file,
                number,
                f"corpus id {did!r} is not in corpus.jsonl.",
                "Fix the id or add the document to corpus.jsonl.",
            )
        if (qid, did) in seen and qrels[qid][did] != score:
            raise _error(
                file,
                number,
                f"({qid!r}, {did!r}) was already judged {qrels[qid][did]} on line "
                f"{seen[(qid, did)]}, now {score}.",
                "Keep a single grade for each query-document pair.",
            )
        seen.setdefault((qid, did), number)
        qrels.setdefault(qid, {})[did] = score
    if not qrels:
        raise _error(
            file,
            None,
            "the file contains no relevance judgements.",
            "Add lines of the form query-id<TAB>corpus-id<TAB>score.",
        )
    return qrels


def load_beir(
    path: str | os.PathLike[str], split: str = "test", *, name: str | None = None
) -> BeirDataset:
    """Load and check a retrieval set in BEIR format.

    The folder must contain::

        corpus.jsonl      one {"_id", "text", optional "title"} object per line
        queries.jsonl     one {"_id", "text"} object per line
        qrels/<split>.tsv query-id<TAB>corpus-id<TAB>score, optional header line
                          "query-id  corpus-id  score"

    Any folder in that layout works (e.g. one downloaded from the BEIR benchmark). Extra
    JSON fields are ignored, blank lines are skipped, and integer ids are read as strings.
    A document may have an empty ``text`` when it has a title. All queries are kept,
    also those without judgements in ``split``; evaluate on
    :meth:`BeirDataset.queries_with_qrels`.

    Args:
        path: The dataset folder.
        split: Which qrels file to read: ``"test"`` reads ``qrels/test.tsv``.
        name: Display name; defaults to the folder name.

    Returns:
        The checked :class:`BeirDataset`.

    Raises:
        DatasetFormatError: If the folder or a file is missing, or a file is malformed
            (bad JSON, missing ``_id`` or ``text``, duplicate id, empty text, wrong number
            of TSV columns, non-integer or negative score, a qrels id that is not in the
            corpus or queries, an empty corpus...). The message names the file and the
            1-based line number.
        InvalidInputError: If ``split`` is not a plain name such as ``"test"``.

    Example:
        >>> ds = load_beir("shared/embedlab/data/course_retrieval")  # doctest: +SKIP
        >>> ds  # doctest: +SKIP
        BeirDataset(name='course_retrieval', docs=..., queries=..., judgements=...)
    """
    if not isinstance(split, str) or not split.strip() or any(s in split for s in "/\\"):
        raise InvalidInputError(
            f"split must be a plain name such as 'test' or 'dev', got {split!r}."
        )
    folder = Path(path)
    expected = f"corpus.jsonl, queries.jsonl and qrels/{split}.tsv"
    if not folder.exists():
        raise DatasetFormatError(
            f"{folder}: the dataset folder does not exist. Pass the path of a BEIR folder "
            f"containing {expected}."
        )
    if not folder.is_dir():
        raise DatasetFormatError(
            f"{folder}: this is a file, not a folder. Pass the folder that contains {expected}."
        )
    corpus_file = folder / "corpus.jsonl"
    queries_file = folder / "queries.jsonl"
    qrels_file = folder / "qrels" / f"{split}.tsv"
    missing = [
        str(f.relative_to(folder))
        for f in (corpus_file, queries_file, qrels_file)
        if not f.is_file()
    ]
    if missing:
        message = f"{folder}: missing {', '.join(missing)}. A BEIR folder must contain {expected}."
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        if not qrels_file.is_file() and splits:
            message += f" Available qrels splits here: {splits}; pass split=... to choose one."
        raise DatasetFormatError(message)
    corpus = _read_corpus(corpus_file)
    queries = _read_queries(queries_file)
    qrels = _read_qrels(qrels_file, corpus, queries)
    return BeirDataset(corpus=corpus, queries=queries, qrels=qrels, name=name or folder.name)


# --------------------------------------------------------------------------- course set


def course_retrieval_path() -> Path:
    """Return the folder of the course retrieval set shipped with embedlab.

    Returns:
        The path of ``embedlab/data/course_retrieval`` (it is not checked here: use
        :func:`load_course_retrieval` to load and validate it).

    Example:
        >>> course_retrieval_path().name
        'course_retrieval'
    """
    return Path(str(_data_dir() / _COURSE_RETRIEVAL_DIR))


def load_course_retrieval(split: str = "test") -> BeirDataset:
    """Load the course retrieval set (``load_beir(course_retrieval_path())``).

    Args:
        split: Which qrels file to read.

    Returns:
        The checked :class:`BeirDataset`, named ``"course_retrieval"``.

    Raises:
        DatasetFormatError: If the set is missing (reinstall embedlab) or malformed.

    Example:
        >>> ds = load_course_retrieval()  # doctest: +SKIP
        >>> len(ds.corpus) >= 300  # doctest: +SKIP
        True
    """
    folder = course_retrieval_path()
    if not folder.is_dir():
        raise DatasetFormatError(
            f"{folder}: the course retrieval set is not installed. Reinstall embedlab "
            "(`pip install -e .` in the course repository root)."
        )
    return load_beir(folder, split)

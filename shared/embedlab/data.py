"""The course data: Lab 1's sentences, and retrieval sets in BEIR format (ours or yours).

Every loader checks its input and raises :class:`DatasetFormatError` naming the file, the
1-based line and the problem, so a malformed file is found before it gives a silently
wrong evaluation.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from embedlab.errors import DatasetFormatError, InvalidInputError

DATA = Path(str(resources.files("embedlab") / "data"))
_SENTENCE_COLUMNS = ["id", "text", "topic", "pair_id", "note"]


def load_sentences() -> pd.DataFrame:
    """Lab 1's 96 sentences in five topics, with paraphrase and hard-negative pairs marked.

    Columns: ``id``, ``text``, ``topic``, ``pair_id`` (links the two sentences of a pair)
    and ``note`` (``"paraphrase"``, ``"hard_negative"`` or ``""``). The first sentence of
    each hard-negative pair also has a paraphrase among the unpaired sentences:
    ``embedlab.labs.lab1.triplets`` lists these matched items.

    >>> load_sentences().shape
    (96, 5)
    """
    source = DATA / "lab1_sentences.csv"
    if not source.is_file():
        raise DatasetFormatError(
            f"{source}: the Lab 1 sentence file is missing from the embedlab package. "
            "Reinstall embedlab (`pip install -e .` in the course repository root)."
        )
    df = pd.read_csv(source, dtype=str, keep_default_na=False)
    if missing := [c for c in _SENTENCE_COLUMNS if c not in df.columns]:
        raise DatasetFormatError(
            f"{source}, line 1: the header lacks the column(s) {missing}. Reinstall embedlab."
        )
    return df[_SENTENCE_COLUMNS]


def sentence_pairs(df: pd.DataFrame | None = None, note: str = "paraphrase") -> pd.DataFrame:
    """The pairs of ``note`` (``"paraphrase"`` or ``"hard_negative"``), one row per pair.

    >>> sentence_pairs(note="hard_negative").iloc[0][["text_a", "text_b"]].tolist()
    ['My account was suspended yesterday afternoon.', 'My account was created yesterday afternoon.']
    """  # noqa: E501
    df = load_sentences() if df is None else df
    if not isinstance(df, pd.DataFrame) or not {"text", "pair_id", "note"} <= set(df.columns):
        raise InvalidInputError(
            "expected the table returned by load_sentences() (or a filtered copy that keeps "
            "all its columns)."
        )
    rows = []
    for pair_id, group in df[df["note"] == note].groupby("pair_id", sort=True):
        if len(group) != 2:
            raise DatasetFormatError(
                f"pair {pair_id!r} has {len(group)} sentence(s) marked {note!r}; a pair needs "
                "exactly 2. If you filtered the table, keep both sentences of each pair."
            )
        rows.append((pair_id, *group["text"], group["topic"].iloc[0]))
    return pd.DataFrame(rows, columns=["pair_id", "text_a", "text_b", "topic"])


def join_title(title: str | None, text: str | None) -> str:
    """The text to embed for a document: title and body as one run of sentences.

    >>> join_title("Wi-Fi", "Restart it."), join_title("Why?", "Because.")
    ('Wi-Fi. Restart it.', 'Why? Because.')
    """
    title, text = (title or "").strip(), (text or "").strip()
    if not title or not text:
        return title or text
    return f"{title}{' ' if title[-1] in '.?!:;' else '. '}{text}"


@dataclass(frozen=True)
class BeirDataset:
    """A retrieval test set: ``corpus`` ``{doc_id: {"title", "text"}}``, ``queries``
    ``{query_id: text}``, graded ``qrels`` ``{query_id: {doc_id: grade}}``, and
    ``query_meta``: the extra fields of ``queries.jsonl`` (e.g. ``type``), one row per query.
    """

    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    name: str = "beir"
    query_meta: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def doc_ids(self) -> list[str]:
        return list(self.corpus)

    @property
    def query_ids(self) -> list[str]:
        return list(self.queries)

    def doc_texts(self) -> list[str]:
        """The text to embed for each document (:func:`join_title`), in ``doc_ids`` order."""
        return [join_title(d.get("title"), d.get("text")) for d in self.corpus.values()]

    def query_texts(self) -> list[str]:
        return list(self.queries.values())

    def relevant(self, min_grade: int = 1) -> dict[str, set[str]]:
        """``{query_id: {doc_id, ...}}``: documents graded at least ``min_grade``."""
        out = {q: {d for d, g in j.items() if g >= min_grade} for q, j in self.qrels.items()}
        return {q: docs for q, docs in out.items() if docs}

    def __repr__(self) -> str:
        judged = sum(map(len, self.qrels.values()))
        return (
            f"BeirDataset(name={self.name!r}, docs={len(self.corpus)}, queries="
            f"{len(self.queries)} ({len(self.relevant())} with relevant docs), judgements={judged})"
        )


def _error(file: Path, line: int | None, problem: str, fix: str) -> DatasetFormatError:
    return DatasetFormatError(f"{file}{f', line {line}' if line else ''}: {problem} {fix}")


def _lines(file: Path) -> Iterator[tuple[int, str]]:
    with open(file, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                problem = f"is not valid UTF-8 ({exc.reason} at byte {exc.start})."
                raise _error(file, number, problem, "Save the file with UTF-8 encoding.") from None
            if line.strip():
                yield number, line


def _read_jsonl(file: Path, kind: str) -> dict[str, tuple[dict[str, Any], int]]:
    """``{id: (record, line)}``, with every record checked."""
    records: dict[str, tuple[dict[str, Any], int]] = {}
    example = f'{{"_id": "{kind[0]}1", "text": "..."}}'
    for n, line in _lines(file):
        at = functools.partial(_error, file, n)
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg} at column {exc.colno})."
            raise at(problem, f"Each line must be one JSON object, e.g. {example}.") from None
        if not isinstance(record, dict):
            problem = f"expected a JSON object, got a JSON {type(record).__name__}."
            raise at(problem, f"Each line must look like {example}.")
        if "_id" not in record:
            fix = f"Give every {kind} a unique string id under the key '_id'."
            raise at("the record has no '_id' field.", fix)
        raw = record["_id"]
        if isinstance(raw, bool) or not isinstance(raw, str | int) or not str(raw).strip():
            raise at(f"'_id' must be a non-empty string, got {raw!r}.", 'Use e.g. "d17".')
        rid = str(raw).strip()
        if rid in records:
            problem = f"duplicate id {rid!r} (first used on line {records[rid][1]})."
            raise at(problem, f"Every {kind} id must be unique: rename or remove one of them.")
        if "text" not in record:
            raise at(f"{kind} {rid!r} has no 'text' field.", f"Add the {kind} text under 'text'.")
        for key in ("text", "title"):
            if key in record and not isinstance(record[key], str) and record[key] is not None:
                got = type(record[key]).__name__
                problem = f"'{key}' of {kind} {rid!r} must be a string, got {got}."
                raise at(problem, "Store the text as a JSON string.")
        records[rid] = (record, n)
    if not records:
        fix = f"Add one JSON object per line, e.g. {example}."
        raise _error(file, None, f"the file contains no {kind} records.", fix)
    return records


def _read_qrels(file: Path, corpus: dict, queries: dict) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    header = ["query-id", "corpus-id", "score"]
    for n, line in _lines(file):
        at = functools.partial(_error, file, n)
        fields = [f.strip() for f in line.split("\t")]
        if not seen and [f.lower() for f in fields] == header:
            continue
        if len(fields) != 3:
            hint = "Each line must be: query-id<TAB>corpus-id<TAB>score."
            if len(fields) == 1 and len(line.split()) >= 3:
                hint += " The columns seem to be separated by spaces: use tab characters."
            elif len(fields) == 4:
                hint += " This looks like TREC qrels (qid 0 docid score): drop the 2nd column."
            raise at(f"expected 3 tab-separated columns, found {len(fields)}.", hint)
        qid, did, raw = fields
        try:
            grade = int(raw)
        except ValueError:
            fix = "Use whole-number relevance grades such as 0, 1 or 2."
            raise at(f"score {raw!r} is not an integer.", fix) from None
        if grade < 0:
            fix = "Use grades >= 0 (0 = not relevant); leave unjudged documents out."
            raise at(f"score {grade} is negative.", fix)
        for value, ids, what, name in (
            (qid, queries, "query", "queries.jsonl"),
            (did, corpus, "corpus", "corpus.jsonl"),
        ):
            if value not in ids:
                thing = "query" if what == "query" else "document"
                fix = f"Fix the id or add the {thing} to {name}."
                raise at(f"{what} id {value!r} is not in {name}.", fix)
        if (qid, did) in seen and qrels[qid][did] != grade:
            before = f"already judged {qrels[qid][did]} on line {seen[qid, did]}, now {grade}."
            raise at(f"({qid!r}, {did!r}) was {before}", "Keep one grade for each pair.")
        seen.setdefault((qid, did), n)
        qrels.setdefault(qid, {})[did] = grade
    if not qrels:
        fix = "Add lines of the form query-id<TAB>corpus-id<TAB>score."
        raise _error(file, None, "the file contains no relevance judgements.", fix)
    return qrels


def load_beir(path: str | Path, split: str = "test", *, name: str | None = None) -> BeirDataset:
    """Load and check a retrieval set in BEIR layout: ``corpus.jsonl`` (``_id``, ``text``,
    optional ``title``), ``queries.jsonl`` (``_id``, ``text``, any extra fields) and
    ``qrels/<split>.tsv`` (``query-id<TAB>corpus-id<TAB>grade``, optional header).
    """
    if not isinstance(split, str) or not split.strip() or any(s in split for s in "/\\"):
        raise InvalidInputError(
            f"split must be a plain name such as 'test' or 'dev', got {split!r}."
        )
    folder = Path(path)
    expected = f"corpus.jsonl, queries.jsonl and qrels/{split}.tsv"
    if not folder.is_dir():
        problem = (
            "this is a file, not a folder"
            if folder.exists()
            else "the dataset folder does not exist"
        )
        raise DatasetFormatError(
            f"{folder}: {problem}. Pass the path of a BEIR folder containing {expected}."
        )
    files = [
        folder / "corpus.jsonl",
        folder / "queries.jsonl",
        folder / "qrels" / f"{split}.tsv",
    ]
    if missing := [str(f.relative_to(folder)) for f in files if not f.is_file()]:
        message = f"{folder}: missing {', '.join(missing)}. A BEIR folder must contain {expected}."
        if splits := sorted(p.stem for p in (folder / "qrels").glob("*.tsv")):
            message += f" Available qrels splits here: {splits}; pass split=... to choose one."
        raise DatasetFormatError(message)
    corpus = {}
    for did, (rec, n) in _read_jsonl(files[0], "document").items():
        if not rec["text"].strip() and not (rec.get("title") or "").strip():
            fix = "Remove the document or give it some text: an empty one cannot be embedded."
            raise _error(files[0], n, f"document {did!r} has an empty 'text' (and no title).", fix)
        corpus[did] = {"title": (rec.get("title") or "").strip(), "text": rec["text"]}
    records = _read_jsonl(files[1], "query")
    for qid, (rec, n) in records.items():
        if not rec["text"].strip():
            fix = "Remove the query or write its text."
            raise _error(files[1], n, f"query {qid!r} has an empty 'text'.", fix)
    queries = {qid: rec["text"] for qid, (rec, _) in records.items()}
    extra = {
        qid: {k: v for k, v in rec.items() if k not in ("_id", "text")}
        for qid, (rec, _) in records.items()
    }
    meta = pd.DataFrame.from_dict(extra, orient="index").rename_axis("query_id")
    qrels = _read_qrels(files[2], corpus, queries)
    return BeirDataset(corpus, queries, qrels, name or folder.name, meta)


def load_course_retrieval() -> BeirDataset:
    """The course retrieval set: 383 documents, 96 queries (``query_meta["type"]``: paraphrase,
    hard_negative or keyword) and 315 graded judgements. See its DATASHEET.md."""
    folder = DATA / "course_retrieval"
    if not folder.is_dir():
        raise DatasetFormatError(
            f"{folder}: the course retrieval set is not installed. Reinstall embedlab "
            "(`pip install -e .` in the course repository root)."
        )
    return load_beir(folder)

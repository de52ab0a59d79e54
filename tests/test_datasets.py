"""Tests of embedlab.datasets: the Lab 1 sentences and the BEIR loader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from embedlab.datasets import (
    BeirDataset,
    course_retrieval_path,
    hard_negative_pairs,
    load_beir,
    load_course_retrieval,
    load_sentences,
    paraphrase_pairs,
)
from embedlab.errors import DatasetFormatError, InvalidInputError

# --------------------------------------------------------------------------- helpers

CORPUS = [
    {"_id": "d1", "title": "Wi-Fi", "text": "Restart the router to fix a slow connection."},
    {"_id": "d2", "title": "", "text": "Reset your password from the login page."},
    {"_id": "d3", "text": "Soak the beans overnight."},
    {"_id": "d4", "title": "Passports", "text": "Renew your passport before you travel."},
]
QUERIES = [
    {"_id": "q1", "text": "my internet is slow"},
    {"_id": "q2", "text": "forgot password"},
    {"_id": "q3", "text": "a query without judgements"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td3\t0\nq2\td2\t1\nq2\td4\t1\n"


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def make_beir(
    root: Path,
    corpus: str | None = None,
    queries: str | None = None,
    qrels: str | None = None,
    split: str = "test",
) -> Path:
    """Write a small valid BEIR folder under ``root``; pass text to replace one file."""
    folder = root / "mini"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        _jsonl(CORPUS) if corpus is None else corpus, encoding="utf-8"
    )
    (folder / "queries.jsonl").write_text(
        _jsonl(QUERIES) if queries is None else queries, encoding="utf-8"
    )
    (folder / "qrels" / f"{split}.tsv").write_text(
        QRELS if qrels is None else qrels, encoding="utf-8"
    )
    return folder


def assert_error(folder: Path, file: str, line: int | None, *words: str, **kwargs) -> str:
    """Load ``folder`` and check the error names ``file``, ``line`` and ``words``."""
    with pytest.raises(DatasetFormatError) as info:
        load_beir(folder, **kwargs)
    message = str(info.value)
    assert file in message, message
    if line is not None:
        assert re.search(rf"\bline {line}\b", message), message
    for word in words:
        assert word.lower() in message.lower(), message
    return message


# --------------------------------------------------------------------------- valid BEIR


def test_valid_beir_folder_loads(tmp_path: Path) -> None:
    ds = load_beir(make_beir(tmp_path))
    assert isinstance(ds, BeirDataset)
    assert ds.name == "mini"
    assert len(ds.corpus) == 4
    assert len(ds.queries) == 3  # the query without judgements is kept
    assert ds.doc_ids == ["d1", "d2", "d3", "d4"]
    assert ds.qrels == {"q1": {"d1": 2, "d3": 0}, "q2": {"d2": 1, "d4": 1}}
    assert ds.corpus["d3"] == {"title": "", "text": "Soak the beans overnight."}


def test_beir_helpers(tmp_path: Path) -> None:
    ds = load_beir(make_beir(tmp_path))
    assert ds.doc_texts() == [
        "Wi-Fi. Restart the router to fix a slow connection.",
        "Reset your password from the login page.",
        "Soak the beans overnight.",
        "Passports. Renew your passport before you travel.",
    ]
    assert ds.relevant() == {"q1": {"d1"}, "q2": {"d2", "d4"}}
    assert ds.relevant(min_score=2) == {"q1": {"d1"}}
    assert ds.relevant(min_score=0) == {"q1": {"d1", "d3"}, "q2": {"d2", "d4"}}
    assert ds.queries_with_qrels() == {"q1": "my internet is slow", "q2": "forgot password"}
    assert ds.query_ids == ["q1", "q2", "q3"]
    text = repr(ds)
    assert "docs=4" in text and "queries=3" in text and "judgements=4" in text


def test_beir_without_header_blank_lines_and_other_split(tmp_path: Path) -> None:
    qrels = "q1\td1\t1\n\nq2\td2\t2\r\n"
    folder = make_beir(tmp_path, qrels=qrels, split="dev")
    ds = load_beir(folder, split="dev", name="tiny")
    assert ds.name == "tiny"
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}


def test_beir_integer_ids_and_extra_fields(tmp_path: Path) -> None:
    corpus = _jsonl([{"_id": 7, "text": "Seven.", "metadata": {"url": "x"}}])
    queries = _jsonl([{"_id": 1, "text": "seven?"}])
    ds = load_beir(make_beir(tmp_path, corpus=corpus, queries=queries, qrels="1\t7\t1\n"))
    assert ds.corpus == {"7": {"title": "", "text": "Seven."}}
    assert ds.qrels == {"1": {"7": 1}}


def test_beir_identical_duplicate_judgement_is_accepted(tmp_path: Path) -> None:
    ds = load_beir(make_beir(tmp_path, qrels="q1\td1\t1\nq1\td1\t1\n"))
    assert ds.qrels == {"q1": {"d1": 1}}


def test_doc_with_title_and_empty_text_is_accepted(tmp_path: Path) -> None:
    corpus = _jsonl([{"_id": "d1", "title": "Only a title", "text": ""}])
    ds = load_beir(make_beir(tmp_path, corpus=corpus, qrels="q1\td1\t1\n"))
    assert ds.doc_texts() == ["Only a title"]


# --------------------------------------------------------------------------- malformed BEIR

BAD_CORPUS_CASES = {
    "bad_json": ('{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n', 2, ["JSON"]),
    "not_object": ('{"_id": "d1", "text": "ok"}\n["d2", "text"]\n', 2, ["JSON object"]),
    "missing_id": ('{"_id": "d1", "text": "ok"}\n{"text": "no id"}\n', 2, ["_id"]),
    "missing_text": ('{"_id": "d1", "title": "t"}\n', 1, ["text", "d1"]),
    "empty_text": ('{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "   "}\n', 2, ["empty"]),
    "empty_id": ('{"_id": "", "text": "ok"}\n', 1, ["_id", "empty"]),
    "text_not_string": ('{"_id": "d1", "text": 5}\n', 1, ["text", "string"]),
    "duplicate_id": (
        '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n{"_id": "d1", "text": "c"}\n',
        3,
        ["duplicate", "d1", "line 1"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CORPUS_CASES))
def test_malformed_corpus(tmp_path: Path, case: str) -> None:
    content, line, words = BAD_CORPUS_CASES[case]
    folder = make_beir(tmp_path, corpus=content, qrels="q1\td1\t1\n")
    assert_error(folder, "corpus.jsonl", line, *words)


def test_blank_lines_count_in_line_numbers(tmp_path: Path) -> None:
    content = '{"_id": "d1", "text": "ok"}\n\n\n{"_id": "d2"}\n'
    folder = make_beir(tmp_path, corpus=content, qrels="q1\td1\t1\n")
    assert_error(folder, "corpus.jsonl", 4, "text")


def test_empty_corpus(tmp_path: Path) -> None:
    folder = make_beir(tmp_path, corpus="\n")
    assert_error(folder, "corpus.jsonl", None, "empty")


def test_not_utf8(tmp_path: Path) -> None:
    folder = make_beir(tmp_path)
    (folder / "queries.jsonl").write_bytes(b'{"_id": "q1", "text": "caf\xe9"}\n')
    assert_error(folder, "queries.jsonl", 1, "UTF-8")


BAD_QUERY_CASES = {
    "bad_json": ('{"_id": "q1", "text": "a"}\n{_id: q2}\n', 2, ["JSON"]),
    "missing_id": ('{"text": "a"}\n', 1, ["_id"]),
    "missing_text": ('{"_id": "q1", "text": "a"}\n{"_id": "q2"}\n', 2, ["text"]),
    "empty_text": ('{"_id": "q1", "text": ""}\n', 1, ["empty"]),
    "duplicate_id": ('{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n', 2, ["duplicate"]),
}


@pytest.mark.parametrize("case", sorted(BAD_QUERY_CASES))
def test_malformed_queries(tmp_path: Path, case: str) -> None:
    content, line, words = BAD_QUERY_CASES[case]
    folder = make_beir(tmp_path, queries=content, qrels="q1\td1\t1\n")
    assert_error(folder, "queries.jsonl", line, *words)


def test_empty_queries(tmp_path: Path) -> None:
    assert_error(make_beir(tmp_path, queries=""), "queries.jsonl", None, "no queries")


BAD_QRELS_CASES = {
    "two_columns": ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\n", 3, ["3 tab-separated"]),
    "four_columns": ("q1\t0\td1\t1\n", 1, ["found 4", "TREC"]),
    "spaces": ("q1 d1 1\n", 1, ["found 1", "tab"]),
    "float_score": ("q1\td1\t1.5\n", 1, ["not an integer", "1.5"]),
    "text_score": ("q1\td1\thigh\n", 1, ["not an integer"]),
    "negative_score": ("q1\td1\t1\nq2\td2\t-1\n", 2, ["negative"]),
    "unknown_query": ("q1\td1\t1\nq9\td2\t1\n", 2, ["q9", "queries.jsonl"]),
    "unknown_doc": ("q1\td1\t1\nq1\td99\t1\n", 2, ["d99", "corpus.jsonl"]),
    "conflicting_duplicate": ("q1\td1\t1\nq1\td1\t2\n", 2, ["already judged", "line 1"]),
}


@pytest.mark.parametrize("case", sorted(BAD_QRELS_CASES))
def test_malformed_qrels(tmp_path: Path, case: str) -> None:
    content, line, words = BAD_QRELS_CASES[case]
    assert_error(make_beir(tmp_path, qrels=content), "test.tsv", line, *words)


def test_empty_qrels(tmp_path: Path) -> None:
    folder = make_beir(tmp_path, qrels="query-id\tcorpus-id\tscore\n")
    assert_error(folder, "test.tsv", None, "no relevance judgements")


# --------------------------------------------------------------------------- missing files


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="does not exist") as info:
        load_beir(tmp_path / "nowhere")
    assert "corpus.jsonl" in str(info.value) and "qrels/test.tsv" in str(info.value)


def test_path_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "corpus.jsonl"
    file.write_text("{}\n")
    with pytest.raises(DatasetFormatError, match="not a folder"):
        load_beir(file)


@pytest.mark.parametrize("name", ["corpus.jsonl", "queries.jsonl"])
def test_missing_file(tmp_path: Path, name: str) -> None:
    folder = make_beir(tmp_path)
    (folder / name).unlink()
    message = assert_error(folder, name, None, "missing")
    assert "corpus.jsonl, queries.jsonl and qrels/test.tsv" in message


def test_missing_split_lists_available_ones(tmp_path: Path) -> None:
    folder = make_beir(tmp_path, split="dev")
    message = assert_error(folder, "qrels/test.tsv", None, "missing")
    assert "['dev']" in message


@pytest.mark.parametrize("split", ["", "../test", 3])
def test_bad_split_argument(tmp_path: Path, split) -> None:
    with pytest.raises(InvalidInputError):
        load_beir(make_beir(tmp_path), split=split)


# --------------------------------------------------------------------------- Lab 1 sentences


@pytest.fixture(scope="module")
def sentences() -> pd.DataFrame:
    return load_sentences()


def test_lab1_structure(sentences: pd.DataFrame) -> None:
    assert sentences.columns.tolist() == ["id", "text", "topic", "pair_id", "note"]
    assert len(sentences) == 96
    assert sentences["id"].is_unique
    assert sentences["text"].is_unique, "duplicate texts"
    assert (sentences["text"].str.strip() != "").all()
    topics = sentences["topic"].value_counts()
    assert len(topics) == 5
    assert topics.between(16, 20).all(), topics
    words = sentences["text"].str.split().str.len()
    assert words.between(6, 20).all(), sentences.loc[~words.between(6, 20), "text"].tolist()


def test_lab1_pairs_complete(sentences: pd.DataFrame) -> None:
    paired = sentences[sentences["pair_id"] != ""]
    assert set(sentences["note"]) == {"", "paraphrase", "hard_negative"}
    # a sentence has a pair id exactly when it has a note
    assert ((sentences["pair_id"] == "") == (sentences["note"] == "")).all()
    for pair_id, group in paired.groupby("pair_id"):
        assert len(group) == 2, f"{pair_id} appears {len(group)} times"
        assert group["topic"].nunique() == 1, f"{pair_id} spans topics"
        assert group["note"].nunique() == 1, f"{pair_id} mixes notes"
        expected = "paraphrase" if pair_id.startswith("p") else "hard_negative"
        assert group["note"].iloc[0] == expected, pair_id


def test_pair_helpers(sentences: pd.DataFrame) -> None:
    para = paraphrase_pairs(sentences)
    neg = hard_negative_pairs(sentences)
    assert para.columns.tolist() == ["pair_id", "text_a", "text_b", "topic"]
    assert neg.columns.tolist() == ["pair_id", "text_a", "text_b", "topic"]
    assert len(para) >= 12
    assert len(neg) >= 8
    assert (para["text_a"] != para["text_b"]).all()
    assert para["pair_id"].str.startswith("p").all()
    assert neg["pair_id"].str.startswith("n").all()
    assert len(paraphrase_pairs()) == len(para)


def test_pair_helpers_reject_broken_input(sentences: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError):
        paraphrase_pairs(sentences[["id", "text"]])
    with pytest.raises(InvalidInputError):
        paraphrase_pairs(["not", "a", "frame"])
    with pytest.raises(DatasetFormatError, match="p01"):
        paraphrase_pairs(sentences.drop(index=sentences.index[sentences["pair_id"] == "p01"][0]))


# --------------------------------------------------------------------------- course set


def test_course_retrieval_path_points_into_package() -> None:
    path = course_retrieval_path()
    assert path.name == "course_retrieval"
    assert path.parent.name == "data"


@pytest.mark.skipif(
    not (course_retrieval_path() / "corpus.jsonl").is_file(),
    reason="course retrieval set not written yet",
)
def test_course_retrieval_set() -> None:
    ds = load_course_retrieval()
    assert len(ds.corpus) >= 300
    assert len(ds.queries_with_qrels()) >= 80
    scores = {s for judged in ds.qrels.values() for s in judged.values()}
    assert scores <= {0, 1, 2}
    assert {1, 2} <= scores
    relevant = ds.relevant(min_score=1)
    per_query = [len(relevant.get(qid, ())) for qid in ds.queries_with_qrels()]
    assert sum(per_query) / len(per_query) >= 2

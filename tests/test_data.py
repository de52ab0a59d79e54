"""The course data and the BEIR loader: counts of the packaged sets, and an error that names
the file, the line and the fix for every malformed input. Missing packaged data is a failure,
never a skip: the labs cannot run without it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

import embedlab
from embedlab import data
from embedlab.data import BeirDataset, join_title, load_beir, load_course_retrieval, sentence_pairs
from embedlab.errors import DatasetFormatError, InvalidInputError

PACKAGED = [
    "lab1_sentences.csv",
    "course_retrieval/corpus.jsonl",
    "course_retrieval/queries.jsonl",
    "course_retrieval/qrels/test.tsv",
    "course_retrieval/DATASHEET.md",
]

# --------------------------------------------------------------------------- packaged data


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_file_is_there(name):
    assert (data.DATA / name).is_file(), f"{name} is missing from shared/embedlab/data"


def test_package_data_is_declared_for_the_wheel():
    import tomllib

    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())
    assert {"data/*", "data/**/*"} <= set(config["tool"]["setuptools"]["package-data"]["embedlab"])


def test_missing_packaged_files_fail_loudly(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DATA", tmp_path)
    with pytest.raises(DatasetFormatError, match=r"lab1_sentences.csv: .* missing .* Reinstall"):
        data.load_sentences()
    with pytest.raises(DatasetFormatError, match=r"course_retrieval: .* not installed. Reinstall"):
        data.load_course_retrieval()


# --------------------------------------------------------------------------- Lab 1 sentences


@pytest.fixture(scope="module")
def sentences() -> pd.DataFrame:
    return embedlab.load_sentences()


def test_lab1_sentences(sentences):
    assert sentences.shape == (96, 5)
    assert sentences.columns.tolist() == ["id", "text", "topic", "pair_id", "note"]
    assert sentences["id"].is_unique and sentences["text"].is_unique
    assert (sentences["text"].str.strip() != "").all()
    topics = sentences["topic"].value_counts()
    assert len(topics) == 5 and topics.between(16, 20).all(), topics
    words = sentences["text"].str.split().str.len()
    assert words.between(6, 20).all(), sentences.loc[~words.between(6, 20), "text"].tolist()
    assert sentences["note"].value_counts().to_dict() == {
        "": 46,
        "paraphrase": 30,
        "hard_negative": 20,
    }


def test_lab1_pairs_are_complete(sentences):
    # a sentence has a pair id exactly when it has a note
    assert ((sentences["pair_id"] == "") == (sentences["note"] == "")).all()
    for pair_id, group in sentences[sentences["pair_id"] != ""].groupby("pair_id"):
        assert len(group) == 2, f"{pair_id} appears {len(group)} times"
        assert group["topic"].nunique() == 1 and group["note"].nunique() == 1, pair_id
        expected = "paraphrase" if pair_id.startswith("p") else "hard_negative"
        assert group["note"].iloc[0] == expected, pair_id


def test_sentence_pairs(sentences):
    para, neg = sentence_pairs(), sentence_pairs(note="hard_negative")
    for table in (para, neg):
        assert table.columns.tolist() == ["pair_id", "text_a", "text_b", "topic"]
        assert (table["text_a"] != table["text_b"]).all()
    assert (len(para), len(neg)) == (15, 10)
    assert para["pair_id"].str.startswith("p").all() and neg["pair_id"].str.startswith("n").all()
    assert para["pair_id"].is_monotonic_increasing
    first = sentences[sentences["pair_id"] == "p01"]["text"].tolist()
    assert para.iloc[0][["text_a", "text_b"]].tolist() == first
    pd.testing.assert_frame_equal(sentence_pairs(sentences), para)


def test_sentence_pairs_rejects_broken_input(sentences):
    with pytest.raises(InvalidInputError, match="the table returned by load_sentences"):
        sentence_pairs(sentences[["id", "text"]])
    with pytest.raises(InvalidInputError):
        sentence_pairs(["not", "a", "frame"])
    one_left = sentences.drop(index=sentences.index[sentences["pair_id"] == "p01"][0])
    with pytest.raises(DatasetFormatError, match="pair 'p01' has 1 sentence.*keep both"):
        sentence_pairs(one_left)


# --------------------------------------------------------------------------- course retrieval set


@pytest.fixture(scope="module")
def course() -> BeirDataset:
    return load_course_retrieval()


def test_course_set_counts(course):
    assert len(course.corpus) == 383
    assert len(course.queries) == 96
    assert sum(map(len, course.qrels.values())) == 315
    assert repr(course) == (
        "BeirDataset(name='course_retrieval', docs=383, queries=96 (96 with relevant docs), "
        "judgements=315)"
    )


def test_course_set_grades_and_relevant_documents(course):
    grades = [g for judged in course.qrels.values() for g in judged.values()]
    assert {g: grades.count(g) for g in (0, 1, 2)} == {0: 48, 1: 135, 2: 132}
    relevant = course.relevant()
    assert len(relevant) == 96 and sum(map(len, relevant.values())) == 267
    assert min(map(len, relevant.values())) >= 2
    assert all(2 in judged.values() for judged in course.qrels.values())
    assert len(course.relevant(min_grade=2)) == 96


def test_course_set_query_types(course):
    meta = course.query_meta
    assert meta.index.name == "query_id" and meta.index.tolist() == course.query_ids
    assert set(meta.columns) == {"type", "topic"}
    assert meta["type"].value_counts().to_dict() == {
        "paraphrase": 42,
        "hard_negative": 32,
        "keyword": 22,
    }
    # every hard-negative query has a document labelled 0 that looks relevant
    for qid in meta.index[meta["type"] == "hard_negative"]:
        assert 0 in course.qrels[qid].values(), qid


def test_course_set_texts(course):
    texts = course.doc_texts()
    assert len(texts) == 383 and all(t.strip() for t in texts)
    first = course.corpus[course.doc_ids[0]]
    assert texts[0] == join_title(first["title"], first["text"])
    assert course.query_texts() == [course.queries[q] for q in course.query_ids]


def test_join_title():
    assert join_title("Wi-Fi", "Restart it.") == "Wi-Fi. Restart it."
    assert join_title("Why?", "Because.") == "Why? Because."
    assert join_title("", "Only text.") == "Only text."
    assert join_title(" Only title ", None) == "Only title"


# --------------------------------------------------------------------------- a valid BEIR folder

CORPUS = [
    {"_id": "d1", "title": "Wi-Fi", "text": "Restart the router to fix a slow connection."},
    {"_id": "d2", "title": "", "text": "Reset your password from the login page."},
    {"_id": "d3", "text": "Soak the beans overnight."},
    {"_id": "d4", "title": "Passports", "text": "Renew your passport before you travel."},
]
QUERIES = [
    {"_id": "q1", "text": "my internet is slow", "type": "paraphrase"},
    {"_id": "q2", "text": "forgot password", "type": "keyword"},
    {"_id": "q3", "text": "a query without judgements"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td3\t0\nq2\td2\t1\nq2\td4\t1\n"


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def make_beir(root: Path, corpus=None, queries=None, qrels=None, split="test") -> Path:
    """A small valid BEIR folder under ``root``; pass text to replace one file."""
    folder = root / "mini"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(_jsonl(CORPUS) if corpus is None else corpus)
    (folder / "queries.jsonl").write_text(_jsonl(QUERIES) if queries is None else queries)
    (folder / "qrels" / f"{split}.tsv").write_text(QRELS if qrels is None else qrels)
    return folder


def test_a_valid_folder_loads(tmp_path):
    ds = load_beir(make_beir(tmp_path))
    assert ds.name == "mini"
    assert ds.doc_ids == ["d1", "d2", "d3", "d4"] and ds.query_ids == ["q1", "q2", "q3"]
    assert ds.qrels == {"q1": {"d1": 2, "d3": 0}, "q2": {"d2": 1, "d4": 1}}
    assert ds.corpus["d3"] == {"title": "", "text": "Soak the beans overnight."}
    assert ds.doc_texts()[0] == "Wi-Fi. Restart the router to fix a slow connection."
    assert ds.relevant() == {"q1": {"d1"}, "q2": {"d2", "d4"}}
    assert ds.relevant(min_grade=2) == {"q1": {"d1"}}
    assert ds.relevant(min_grade=0) == {"q1": {"d1", "d3"}, "q2": {"d2", "d4"}}
    assert ds.query_meta["type"].tolist()[:2] == ["paraphrase", "keyword"]
    assert pd.isna(ds.query_meta.loc["q3", "type"])


def test_no_header_blank_lines_crlf_bom_and_another_split(tmp_path):
    folder = make_beir(tmp_path, qrels="\ufeffq1\td1\t1\n\nq2\td2\t2\r\n", split="dev")
    ds = load_beir(folder, split="dev", name="tiny")
    assert ds.name == "tiny" and ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}


def test_integer_ids_and_extra_fields(tmp_path):
    corpus = _jsonl([{"_id": 7, "text": "Seven.", "metadata": {"url": "x"}}])
    queries = _jsonl([{"_id": 1, "text": "seven?"}])
    ds = load_beir(make_beir(tmp_path, corpus=corpus, queries=queries, qrels="1\t7\t1\n"))
    assert ds.corpus == {"7": {"title": "", "text": "Seven."}} and ds.qrels == {"1": {"7": 1}}


def test_an_identical_duplicate_judgement_is_accepted(tmp_path):
    assert load_beir(make_beir(tmp_path, qrels="q1\td1\t1\nq1\td1\t1\n")).qrels == {"q1": {"d1": 1}}


def test_a_document_with_only_a_title_is_accepted(tmp_path):
    corpus = _jsonl([{"_id": "d1", "title": "Only a title", "text": ""}])
    assert load_beir(make_beir(tmp_path, corpus=corpus, qrels="q1\td1\t1\n")).doc_texts() == [
        "Only a title"
    ]


# --------------------------------------------------------------------------- malformed BEIR


def assert_error(folder: Path, file: str, line: int | None, *words: str, **kwargs) -> str:
    """Loading ``folder`` fails with a message naming ``file``, ``line`` and ``words``."""
    with pytest.raises(DatasetFormatError) as err:
        load_beir(folder, **kwargs)
    message = str(err.value)
    assert file in message, message
    if line is None:
        assert ", line " not in message, message
    else:
        assert re.search(rf"{re.escape(file)}, line {line}: ", message), message
    for word in words:
        assert word.lower() in message.lower(), message
    return message


# (content, line, fragments): what was wrong and, mostly, the fix the message suggests
BAD_CORPUS = {
    "bad_json": (
        '{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n',
        2,
        ["not valid JSON", "one JSON object"],
    ),
    "not_object": (
        '{"_id": "d1", "text": "ok"}\n["d2", "text"]\n',
        2,
        ["JSON list", "must look like"],
    ),
    "missing_id": (
        '{"_id": "d1", "text": "ok"}\n{"text": "no id"}\n',
        2,
        ["no '_id'", "unique string id"],
    ),
    "missing_text": (
        '{"_id": "d1", "title": "t"}\n',
        1,
        ["'d1' has no 'text'", "Add the document text"],
    ),
    "empty_text": (
        '{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "   "}\n',
        2,
        ["empty 'text'", "give it some text"],
    ),
    "empty_id": ('{"_id": "", "text": "ok"}\n', 1, ["non-empty string", 'e.g. "d17"']),
    "bool_id": ('{"_id": true, "text": "ok"}\n', 1, ["non-empty string", 'e.g. "d17"']),
    "text_not_string": (
        '{"_id": "d1", "text": 5}\n',
        1,
        ["must be a string, got int", "JSON string"],
    ),
    "duplicate_id": (
        '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n{"_id": "d1", "text": "c"}\n',
        3,
        ["duplicate id 'd1' (first used on line 1)", "rename or remove"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CORPUS))
def test_malformed_corpus(tmp_path, case):
    content, line, words = BAD_CORPUS[case]
    assert_error(
        make_beir(tmp_path, corpus=content, qrels="q1\td1\t1\n"), "corpus.jsonl", line, *words
    )


def test_blank_lines_count_in_line_numbers(tmp_path):
    content = '{"_id": "d1", "text": "ok"}\n\n\n{"_id": "d2"}\n'
    assert_error(
        make_beir(tmp_path, corpus=content, qrels="q1\td1\t1\n"), "corpus.jsonl", 4, "text"
    )


def test_empty_corpus(tmp_path):
    assert_error(
        make_beir(tmp_path, corpus="\n"),
        "corpus.jsonl",
        None,
        "no document records",
        "one JSON object per line",
    )


def test_not_utf8(tmp_path):
    folder = make_beir(tmp_path)
    (folder / "queries.jsonl").write_bytes(b'{"_id": "q1", "text": "caf\xe9"}\n')
    assert_error(folder, "queries.jsonl", 1, "not valid UTF-8", "Save the file with UTF-8")


BAD_QUERIES = {
    "bad_json": ('{"_id": "q1", "text": "a"}\n{_id: q2}\n', 2, ["not valid JSON"]),
    "missing_id": ('{"text": "a"}\n', 1, ["no '_id'"]),
    "missing_text": (
        '{"_id": "q1", "text": "a"}\n{"_id": "q2"}\n',
        2,
        ["query 'q2' has no 'text'"],
    ),
    "empty_text": ('{"_id": "q1", "text": ""}\n', 1, ["empty 'text'", "write its text"]),
    "duplicate_id": ('{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n', 2, ["duplicate"]),
}


@pytest.mark.parametrize("case", sorted(BAD_QUERIES))
def test_malformed_queries(tmp_path, case):
    content, line, words = BAD_QUERIES[case]
    assert_error(
        make_beir(tmp_path, queries=content, qrels="q1\td1\t1\n"), "queries.jsonl", line, *words
    )


def test_empty_queries(tmp_path):
    assert_error(make_beir(tmp_path, queries=""), "queries.jsonl", None, "no query records")


BAD_QRELS = {
    "two_columns": (
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\n",
        3,
        ["found 2", "query-id<TAB>corpus-id<TAB>score"],
    ),
    "four_columns": ("q1\t0\td1\t1\n", 1, ["found 4", "TREC qrels", "drop the 2nd column"]),
    "spaces": ("q1 d1 1\n", 1, ["found 1", "use tab characters"]),
    "float_score": ("q1\td1\t1.5\n", 1, ["score '1.5' is not an integer", "whole-number"]),
    "text_score": ("q1\td1\thigh\n", 1, ["not an integer"]),
    "negative_score": ("q1\td1\t1\nq2\td2\t-1\n", 2, ["score -1 is negative", "grades >= 0"]),
    "unknown_query": (
        "q1\td1\t1\nq9\td2\t1\n",
        2,
        ["query id 'q9' is not in queries.jsonl", "Fix the id"],
    ),
    "unknown_doc": (
        "q1\td1\t1\nq1\td99\t1\n",
        2,
        ["'d99' is not in corpus.jsonl", "add the document"],
    ),
    "conflicting_duplicate": (
        "q1\td1\t1\nq1\td1\t2\n",
        2,
        ["already judged 1 on line 1, now 2", "Keep one grade"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_QRELS))
def test_malformed_qrels(tmp_path, case):
    content, line, words = BAD_QRELS[case]
    assert_error(make_beir(tmp_path, qrels=content), "test.tsv", line, *words)


def test_empty_qrels(tmp_path):
    folder = make_beir(tmp_path, qrels="query-id\tcorpus-id\tscore\n")
    assert_error(folder, "test.tsv", None, "no relevance judgements", "Add lines of the form")


def test_missing_folder(tmp_path):
    message = assert_error(tmp_path / "nowhere", "nowhere", None, "does not exist")
    assert "corpus.jsonl, queries.jsonl and qrels/test.tsv" in message


def test_a_file_instead_of_a_folder(tmp_path):
    file = tmp_path / "corpus.jsonl"
    file.write_text("{}\n")
    assert_error(file, "corpus.jsonl", None, "this is a file, not a folder")


@pytest.mark.parametrize("name", ["corpus.jsonl", "queries.jsonl"])
def test_a_missing_file(tmp_path, name):
    folder = make_beir(tmp_path)
    (folder / name).unlink()
    message = assert_error(folder, f"missing {name}", None)
    assert "A BEIR folder must contain corpus.jsonl, queries.jsonl and qrels/test.tsv" in message


def test_a_missing_split_lists_the_available_ones(tmp_path):
    message = assert_error(make_beir(tmp_path, split="dev"), "missing qrels/test.tsv", None)
    assert "Available qrels splits here: ['dev']; pass split=... to choose one." in message


@pytest.mark.parametrize("split", ["", "  ", "../test", "a\\b", 3, None])
def test_a_bad_split_argument(tmp_path, split):
    with pytest.raises(InvalidInputError, match="split must be a plain name such as 'test'"):
        load_beir(make_beir(tmp_path), split=split)

"""Lab 3's checks beyond the catalogue: the made-up intervals of exercises d and e follow the
rule the module states, and every typical wrong rule is caught with its own message; check_b
reads a Dataset whatever its row order and counts what is missing or repeated; check_c's
success message states the recipe; hints, answers, needs() and the review questions.
The learner-answer catalogue (tests/test_learner_answers_lab3.py) covers what learners type."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from datasets import Dataset, concatenate_datasets

import embedlab
from embedlab.labs import lab3
from embedlab.labs.base import ExerciseNotDone, Lab

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = json.loads((ROOT / "shared/embedlab/labs/answers.json").read_text())["lab3"]


def reference(step: str, **names) -> dict:
    """Run the solution's code for ``step`` (as answers.json has it) in ``names``."""
    code = "\n".join(ln for ln in ANSWERS[step].splitlines() if not ln.startswith("# replaces"))
    if step == "d":
        code = "def gain_is_real(interval):\n    " + code
    if step == "e":
        code = "def ship(gain, forgetting, max_loss):\n    " + code
    exec(code, names)
    return names


@pytest.fixture(scope="module")
def ds():
    return lab3.load_domain()


@pytest.fixture(scope="module")
def columns(ds) -> dict[str, list[str]]:
    docs = list(ds.corpus.values())
    return {"anchor": [d["title"] for d in docs], "positive": [d["text"] for d in docs]}


# --------------------------------------------------------------------------- d and e


def _rule_d(interval) -> bool:
    """The rule as the module's hint and the notebook state it: the whole interval above 0."""
    return interval["ci_low"] > 0


def _rule_e(gain, forgetting, max_loss) -> bool:
    """The gain is real and the forgetting interval's low end is above -max_loss."""
    return _rule_d(gain) and forgetting["ci_low"] > -max_loss


def test_every_test_interval_follows_the_stated_rule():
    for interval, want, _ in lab3._GAINS:
        assert interval["ci_low"] <= interval["mean_diff"] <= interval["ci_high"]
        assert _rule_d(interval) is want, interval
    assert {want for _, want, _ in lab3._GAINS} == {True, False}
    assert any(i["ci_low"] == 0 for i, _, _ in lab3._GAINS)  # the boundary: 0 is not above 0
    for gain, forget, max_loss, want, _ in lab3._SHIPS:
        assert gain[0] <= gain[1] and forget[0] <= forget[1]
        assert _rule_e(lab3._interval(*gain), lab3._interval(*forget), max_loss) is want
    assert {s[3] for s in lab3._SHIPS} == {True, False}
    # the boundary is tested: a low end of exactly -max_loss is not above it
    assert any(f[0] == -m and not want for _, f, m, want, _ in lab3._SHIPS)
    assert len({m for *_, m, _, _ in lab3._SHIPS}) >= 2  # max_loss is an argument


WRONG_GAINS = {
    "mean": lambda i: i["mean_diff"] > 0,
    "high end": lambda i: i["ci_high"] > 0,
    "either side": lambda i: i["ci_low"] > 0 or i["ci_high"] < 0,
    "at least 0": lambda i: i["ci_low"] >= 0,
    "always": lambda i: True,
    "never": lambda i: False,
}


def test_d_tells_every_wrong_rule_apart():
    messages = {}
    for name, rule in WRONG_GAINS.items():
        result = lab3.check_d(rule)
        assert not result, name
        messages[name] = result.message
    # each mistake of a different kind meets its own test interval first
    firsts = {messages[n] for n in ("mean", "either side", "at least 0", "never")}
    assert len(firsts) == 4, messages
    assert lab3.check_d(reference("d")["gain_is_real"])


WRONG_SHIPS = {
    "mean forgetting": lambda g, f, m: _rule_d(g) and f["mean_diff"] > -m,
    "hard-coded 0.05": lambda g, f, m: _rule_d(g) and f["ci_low"] > -0.05,
    "no forgetting": lambda g, f, m: _rule_d(g),
    "no gain": lambda g, f, m: f["ci_low"] > -m,
    "sign": lambda g, f, m: _rule_d(g) and f["ci_low"] > m,
    "or": lambda g, f, m: _rule_d(g) or f["ci_low"] > -m,
    "boundary": lambda g, f, m: _rule_d(g) and f["ci_low"] >= -m,
    "abs": lambda g, f, m: _rule_d(g) and abs(f["ci_low"]) < m,
    "high end": lambda g, f, m: _rule_d(g) and f["ci_high"] > -m,
    "gain mean": lambda g, f, m: g["mean_diff"] > 0 and f["ci_low"] > -m,
}


def test_e_tells_every_wrong_rule_apart():
    messages = {}
    for name, rule in WRONG_SHIPS.items():
        result = lab3.check_e(rule)
        assert not result, name
        messages[name] = result.message.split(": ", 1)[1]
    kinds = ["mean forgetting", "hard-coded 0.05", "no forgetting", "no gain", "sign"]
    kinds += ["boundary", "abs"]
    assert len({messages[k] for k in kinds}) == len(kinds), messages
    assert lab3.check_e(reference("e", gain_is_real=_rule_d)["ship"])


def test_d_and_e_accept_numpy_booleans_and_never_see_the_same_dict_twice():
    import numpy as np

    seen = []

    def spy(interval):
        seen.append(interval)
        interval["ci_low"] = 1.0  # a learner's function that writes into its argument
        return np.bool_(True)

    assert not lab3.check_d(spy)  # wrong, but read: a NumPy bool is a bool
    assert all(i is not lab3._GAINS[0][0] for i in seen)
    assert lab3._GAINS[0][0]["ci_low"] == 0.05  # the test cases are unchanged
    assert lab3.check_d(lambda i: np.float64(i["ci_low"]) > 0)


def test_the_rule_texts_say_above_minus_max_loss():
    """The hint, the check and the record state the same strict rule as the notebook's
    exercise text ("the low end of its interval above -MAX_LOSS")."""
    assert "above -max_loss" in lab3.HINTS["e"]
    assert "above ``-max_loss``" in lab3.check_e.__doc__
    nb = json.loads((ROOT / "solutions/lab3_fine_tune_on_your_domain.ipynb").read_text())
    intro = next(c for c in nb["cells"] if c.get("id") == "e-intro")
    assert "above −`MAX_LOSS`" in "".join(intro["source"])


# --------------------------------------------------------------------------- b


def test_b_passes_the_reference_with_its_count(ds):
    ns = reference("b", Dataset=Dataset, ds=ds)
    result = lab3.check_b(ns["pairs"], ds)
    assert result
    assert result.message == "255 (title, text) pairs from the corpus, no test query among them."


def test_b_passes_the_right_rows_in_any_order(ds, columns):
    pairs = Dataset.from_dict(columns)
    for other in (pairs.shuffle(seed=3), pairs.select(range(len(pairs) - 1, -1, -1))):
        assert other["anchor"] != pairs["anchor"]
        assert lab3.check_b(other, ds)
    joined = Dataset.from_dict({"anchor": columns["anchor"], "positive": ds.doc_texts()})
    assert lab3.check_b(joined.shuffle(seed=4), ds)
    mixed = [t if i % 2 else ds.doc_texts()[i] for i, t in enumerate(columns["positive"])]
    assert lab3.check_b(Dataset.from_dict({"anchor": columns["anchor"], "positive": mixed}), ds)


def test_b_names_other_column_names_in_its_success_message(ds, columns):
    pairs = Dataset.from_dict({"heading": columns["anchor"], "passage": columns["positive"]})
    result = lab3.check_b(pairs, ds)
    assert result and "(columns ['heading', 'passage']: the order is what counts)" in str(result)


def test_b_counts_what_is_missing_and_what_is_repeated(ds, columns):
    pairs = Dataset.from_dict(columns)
    cases = {
        "pairs has 254 rows for 255 documents (1 document missing)": range(254),
        "pairs has 257 rows for 255 documents (2 repeated)": [*range(255), 7, 9],
        "(3 documents missing, 3 repeated)": [*range(252), 0, 1, 2],
    }
    for says, rows in cases.items():
        result = lab3.check_b(pairs.select(rows), ds)
        assert not result and says in result.message, result.message


def test_b_finds_one_title_paired_with_another_documents_text(ds, columns):
    """Two rows' positives exchanged: every title and text is there, but two pairs are wrong
    (a set of titles and a set of texts alone cannot see it)."""
    for positives in (list(columns["positive"]), ds.doc_texts()):
        positives[0], positives[1] = positives[1], positives[0]
        pairs = Dataset.from_dict({"anchor": columns["anchor"], "positive": positives})
        result = lab3.check_b(pairs, ds)
        assert not result and "another document's text" in result.message


def test_b_finds_a_single_test_query_anywhere(ds, columns):
    for qid in ("q001", "q088"):
        for side in ("anchor", "positive"):
            edited = {k: list(v) for k, v in columns.items()}
            edited[side][100] = "  " + ds.queries[qid].upper() + " "
            result = lab3.check_b(Dataset.from_dict(edited), ds)
            assert not result and "a test query is among your pairs" in result.message


# --------------------------------------------------------------------------- c


@pytest.fixture(scope="module")
def trainer_parts(ds, columns, tmp_path_factory) -> dict:
    from sentence_transformers import SentenceTransformerTrainingArguments

    pairs = Dataset.from_dict(columns)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path_factory.mktemp("trainer")),
        max_steps=32,
        per_device_train_batch_size=32,
        seed=0,
        save_strategy="no",
        report_to="none",
    )
    return {
        "model": embedlab.load_model(lab3.BASE_MODEL, device="cpu"),
        "base": embedlab.load_model(lab3.BASE_MODEL, device="cpu"),
        "args": args,
        "train_pairs": concatenate_datasets([pairs, lab3.cloze_pairs(ds)]),
    }


def test_c_passes_the_reference_and_states_the_recipe(trainer_parts):
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer import losses

    p = trainer_parts
    ns = reference("c", losses=losses, SentenceTransformerTrainer=SentenceTransformerTrainer, **p)
    result = lab3.check_c(ns["trainer"], p["model"], p["base"], p["train_pairs"])
    assert result
    assert result.message == (
        "the trainer tunes model with a ranking loss on 730 corpus pairs (32 steps of 32)."
    )
    assert ns["trainer"].train_dataset is p["train_pairs"]  # nothing was trained or copied


def test_c_tells_a_copy_of_the_model_from_the_model(trainer_parts):
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer import losses

    p = trainer_parts
    other = embedlab.load_model(lab3.BASE_MODEL, device="cpu")
    trainer = SentenceTransformerTrainer(
        model=other,
        args=p["args"],
        train_dataset=p["train_pairs"],
        loss=losses.MultipleNegativesRankingLoss(other),
    )
    result = lab3.check_c(trainer, p["model"], p["base"], p["train_pairs"])
    assert not result and "the trainer tunes another model" in result.message


# --------------------------------------------------------------------------- the rest


@pytest.mark.parametrize("step", ["b", "c", "d", "e"])
def test_hint_and_answer(step, capsys):
    lab3.hint(step)
    assert capsys.readouterr().out.strip() == lab3.HINTS[step]
    lab3.answer(step)
    assert capsys.readouterr().out.strip() == ANSWERS[step].strip()


def test_needs_stops_until_the_check_passes():
    lab = Lab("lab3", lab3.HINTS, lab3.QUESTIONS)
    with pytest.raises(ExerciseNotDone, match="finish exercise c first"):
        lab.needs("c")


def test_a_failure_says_where_to_get_help():
    result = lab3.check_e(None)
    assert not result and "lab3.hint('e')" in result.message


def test_review_right_and_every_wrong_option():
    questions = lab3.QUESTIONS
    assert 3 <= len(questions) <= 5
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        lab3.review({i: q.answer for i, q in enumerate(questions, start=1)})
    assert f"{len(questions)} of {len(questions)} right" in out.getvalue()
    for i, q in enumerate(questions, start=1):
        assert set(q.why) == set(q.options) and q.answer in q.options
        for key in q.options:
            if key != q.answer:
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    lab3.review({i: key})
                assert f"{i}. not quite ({key}): {q.why[key]}" in out.getvalue()


def test_the_module_documents_every_public_name():
    for name in lab3.__all__:
        value = getattr(lab3, name)
        if callable(value) and not isinstance(value, type(lab3.LAB)):
            assert (value.__doc__ or "").strip(), name

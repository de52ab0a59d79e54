"""Lab 3: what learners type in each exercise, and what the check must say.

Each case runs a learner's code in the notebook's state at that exercise, calls the check as
the notebook does, and asserts the verdict, a fragment of the message, that no check raised,
that the safety net was not needed and that no failure message gives the answer away.

The namespace is built once per module from the real knitting set and real MiniLM. ``base``
and ``model`` are two fresh copies from ``embedlab.load_model`` rather than the session's
``minilm``: building a trainer attaches callbacks and model-card data to the model it gets,
and the session fixture must stay untouched. Exercise c only builds trainers: nothing trains
(``trainer.train()`` is never called), so the catalogue stays quick.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import textwrap

import pytest
from datasets import Dataset, concatenate_datasets
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer import losses

import embedlab
from embedlab.labs import lab3
from tests.learner_answers import Case, judge, params

SEED = 0
REF_B = (
    'pairs = Dataset.from_dict({"anchor": [d["title"] for d in ds.corpus.values()], '
    '"positive": [d["text"] for d in ds.corpus.values()]})\n'
)
TITLES = 'titles = [d["title"] for d in ds.corpus.values()]\n'
TEXTS = 'texts = [d["text"] for d in ds.corpus.values()]\n'


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> dict:
    """The notebook's names at each exercise (the exercise's own names still None)."""
    ds = lab3.load_domain()
    pairs = Dataset.from_dict(
        {
            "anchor": [d["title"] for d in ds.corpus.values()],
            "positive": [d["text"] for d in ds.corpus.values()],
        }
    )
    train_pairs = concatenate_datasets([pairs, lab3.cloze_pairs(ds)])
    base = embedlab.load_model(lab3.BASE_MODEL, device="cpu")
    model = embedlab.load_model(lab3.BASE_MODEL, device="cpu")  # a fresh copy to tune
    model.max_seq_length = 128
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path_factory.mktemp("lab3-trainer")),
        max_steps=32,
        per_device_train_batch_size=32,
        learning_rate=8e-5,
        warmup_steps=0.1,
        seed=SEED,
        data_seed=SEED,
        batch_sampler="no_duplicates",
        save_strategy="no",
        report_to="none",
        logging_steps=8,
    )
    imports = {
        "tempfile": tempfile,
        "Dataset": Dataset,
        "concatenate_datasets": concatenate_datasets,
        "SentenceTransformerTrainer": SentenceTransformerTrainer,
        "SentenceTransformerTrainingArguments": SentenceTransformerTrainingArguments,
        "losses": losses,
        "embedlab": embedlab,
        "lab3": lab3,
        "SEED": SEED,
    }
    at_b = dict(imports, ds=ds, pairs=None)
    at_c = dict(at_b, pairs=pairs, train_pairs=train_pairs, base=base, model=model, args=args)
    at_c.update(loss=None, trainer=None)
    at_d = dict(at_c)  # the cell defines gain_is_real; its stub returns None
    at_e = dict(at_d, MAX_LOSS=0.05)
    exec('def gain_is_real(interval):\n    return interval["ci_low"] > 0', at_e)
    at_review = {"review_answers": {1: None, 2: None, 3: None}}
    return {
        "b": at_b,
        "c": at_c,
        "d": at_d,
        "e": at_e,
        "review": at_review,
        "hint": {},
        "answer": {},
    }


def _printed(fn, *args) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args)
    print(out.getvalue(), end="")  # judge reads what was printed
    return out.getvalue()


CALLS = {
    "b": lambda ns: lab3.check_b(ns.get("pairs"), ns["ds"]),
    "c": lambda ns: lab3.check_c(ns.get("trainer"), ns["model"], ns["base"], ns["train_pairs"]),
    "d": lambda ns: lab3.check_d(ns.get("gain_is_real")),
    "e": lambda ns: lab3.check_e(ns.get("ship")),
    "review": lambda ns: "3 of 3 right" in _printed(lab3.review, ns["review_answers"]),
    "hint": lambda ns: bool(_printed(lab3.hint, *ns.get("call_with", ()))),
    "answer": lambda ns: bool(_printed(lab3.answer, *ns.get("call_with", ()))),
}
# What a failure message must never show: the reference code (the lab prints no number that
# the exercises ask for: the checks judge code, not values).
SECRETS = {
    "b": ["Dataset.from_dict", 'd["title"] for d in ds.corpus.values()', '"positive": ['],
    "c": ["MultipleNegativesRankingLoss(model)", "train_dataset=train_pairs", "loss=loss"],
    "d": ['"ci_low"] > 0', "['ci_low'] > 0", "return interval"],
    "e": ['forgetting["ci_low"] > -max_loss', "gain_is_real(gain) and", "> -max_loss"],
}

# --------------------------------------------------------------------------- b

B = [
    Case("reference", "b", REF_B, True, "255 (title, text) pairs from the corpus"),
    Case(
        "other-column-names",
        "b",
        TITLES + TEXTS + 'pairs = Dataset.from_dict({"question": titles, "answer": texts})',
        True,
        "the order is what counts",
    ),
    Case(
        "positives-joined-with-title",
        "b",
        TITLES + "from embedlab.data import join_title\n"
        'texts = [join_title(d["title"], d["text"]) for d in ds.corpus.values()]\n'
        'pairs = Dataset.from_dict({"anchor": titles, "positive": texts})',
        True,
        "no test query among them",
    ),
    Case(
        "positives-doc-texts",
        "b",
        TITLES + 'pairs = Dataset.from_dict({"anchor": titles, "positive": ds.doc_texts()})',
        True,
    ),
    Case(
        "comprehension-over-items",
        "b",
        'rows = [(doc["title"], doc["text"]) for doc_id, doc in ds.corpus.items()]\n'
        'pairs = Dataset.from_dict({"anchor": [a for a, _ in rows], '
        '"positive": [p for _, p in rows]})',
        True,
    ),
    Case(
        "from-list-of-dicts",
        "b",
        'pairs = Dataset.from_list([{"anchor": d["title"], "positive": d["text"]} '
        "for d in ds.corpus.values()])",
        True,
    ),
    Case(
        "from-pandas",
        "b",
        "import pandas as pd\n" + TITLES + TEXTS + "pairs = Dataset.from_pandas("
        'pd.DataFrame({"anchor": titles, "positive": texts}))',
        True,
    ),
    Case("shuffled-rows", "b", REF_B + "pairs = pairs.shuffle(seed=1)", True, "255"),
    Case(
        "swapped-columns",
        "b",
        TITLES + TEXTS + 'pairs = Dataset.from_dict({"anchor": texts, "positive": titles})',
        False,
        "swapped",
    ),
    Case(
        "names-swapped-order-kept",
        "b",
        TITLES + TEXTS + 'pairs = Dataset.from_dict({"positive": texts, "anchor": titles})',
        False,
        "swapped",
    ),
    Case(
        "first-100-documents",
        "b",
        REF_B + "pairs = pairs.select(range(100))",
        False,
        "155 documents missing",
    ),
    Case(
        "a-document-twice",
        "b",
        REF_B + "pairs = concatenate_datasets([pairs, pairs.select([0])])",
        False,
        "1 repeated",
    ),
    Case(
        "one-twice-one-missing",
        "b",
        REF_B + "pairs = pairs.select([0, *range(1, 254), 1])",
        False,
        "1 document missing, 1 repeated",
    ),
    Case(
        "dict-not-a-dataset",
        "b",
        TITLES + TEXTS + 'pairs = {"anchor": titles, "positive": texts}',
        False,
        "pairs is a dict",
    ),
    Case(
        "pandas-dataframe",
        "b",
        "import pandas as pd\n"
        + TITLES
        + TEXTS
        + 'pairs = pd.DataFrame({"anchor": titles, "positive": texts})',
        False,
        "pandas DataFrame",
    ),
    Case(
        "list-of-tuples",
        "b",
        'pairs = [(d["title"], d["text"]) for d in ds.corpus.values()]',
        False,
        "pairs is a list",
    ),
    Case(
        "third-column-doc-id",
        "b",
        TITLES + TEXTS + 'pairs = Dataset.from_dict({"anchor": titles, "positive": texts, '
        '"id": list(ds.corpus)})',
        False,
        "third column",
    ),
    Case(
        "only-one-column",
        "b",
        TITLES + 'pairs = Dataset.from_dict({"anchor": titles})',
        False,
        "give exactly two",
    ),
    Case(
        "anchors-are-doc-ids",
        "b",
        TEXTS + 'pairs = Dataset.from_dict({"anchor": list(ds.corpus), "positive": texts})',
        False,
        "document ids",
    ),
    Case(
        "anchor-equals-positive",
        "b",
        TEXTS + 'pairs = Dataset.from_dict({"anchor": texts, "positive": texts})',
        False,
        "equals its positive",
    ),
    Case(
        "a-test-query-added",
        "b",
        REF_B + 'extra = Dataset.from_dict({"anchor": [ds.queries["q012"]], '
        '"positive": [pairs[0]["positive"]]})\n'
        "pairs = concatenate_datasets([pairs, extra])",
        False,
        "a test query is among your pairs",
    ),
    Case(
        "pairs-from-queries",
        "b",
        "qids = list(ds.qrels)\n"
        'pairs = Dataset.from_dict({"anchor": [ds.queries[q] for q in qids], "positive": '
        '[ds.corpus[max(ds.qrels[q], key=ds.qrels[q].get)]["text"] for q in qids]})',
        False,
        "never train on what you will test",
    ),
    Case(
        "titles-sorted-apart-from-texts",
        "b",
        TITLES + TEXTS + 'pairs = Dataset.from_dict({"anchor": sorted(titles), "positive": texts})',
        False,
        "another document's text",
    ),
    Case(
        "titles-sorted-apart-from-joined-texts",
        "b",
        TITLES + 'pairs = Dataset.from_dict({"anchor": sorted(titles), '
        '"positive": ds.doc_texts()})',
        False,
        "another document's text",
    ),
    Case(
        "titles-as-lists",
        "b",
        TITLES + TEXTS + 'pairs = Dataset.from_dict({"anchor": [[t] for t in titles], '
        '"positive": texts})',
        False,
        "holds a list where text belongs",
    ),
    Case(
        "text-and-title-own-join",
        "b",
        TITLES
        + 'texts = [d["title"] + " - " + d["text"] for d in ds.corpus.values()]\n'
        + 'pairs = Dataset.from_dict({"anchor": titles, "positive": texts})',
        False,
        "not (title, text) of one document",
    ),
    Case("still-none", "b", "pairs = None", False, "pairs is still None"),
    Case("uncalled-function", "b", "pairs = Dataset.from_dict", False, "not its result"),
]

# --------------------------------------------------------------------------- c

TRAINER = (
    "trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_pairs, "
    "loss=loss)\n"
)
MNRL = "loss = losses.MultipleNegativesRankingLoss(model)\n"

C = [
    Case("reference", "c", MNRL + TRAINER, True, "on 730 corpus pairs (32 steps of 32)"),
    Case(
        "cached-ranking-loss",
        "c",
        "loss = losses.CachedMultipleNegativesRankingLoss(model)\n" + TRAINER,
        True,
        "ranking loss",
    ),
    Case(
        "matryoshka-around-ranking-loss",
        "c",
        "loss = losses.MatryoshkaLoss(model, losses.MultipleNegativesRankingLoss(model), "
        "[384, 128])\n" + TRAINER,
        True,
    ),
    Case(
        "keyword-order-changed",
        "c",
        MNRL + "trainer = SentenceTransformerTrainer(loss=loss, train_dataset=train_pairs, "
        "args=args, model=model)",
        True,
    ),
    Case(
        "positional-arguments",
        "c",
        MNRL + "trainer = SentenceTransformerTrainer(model, args, train_pairs, loss=loss)",
        True,
    ),
    Case(  # sentence-transformers documents it: a loss class is called with the model
        "loss-class-the-trainer-calls",
        "c",
        "loss = losses.MultipleNegativesRankingLoss\n" + TRAINER,
        True,
    ),
    Case(
        "trainer-on-base",
        "c",
        MNRL + "trainer = SentenceTransformerTrainer(model=base, args=args, "
        "train_dataset=train_pairs, loss=loss)",
        False,
        "would tune base",
    ),
    Case(
        "loss-on-base",
        "c",
        "loss = losses.MultipleNegativesRankingLoss(base)\n" + TRAINER,
        False,
        "the loss wraps another model",
    ),
    Case(
        "cosine-similarity-loss",
        "c",
        "loss = losses.CosineSimilarityLoss(model)\n" + TRAINER,
        False,
        "the loss is CosineSimilarityLoss",
    ),
    Case(
        "contrastive-loss",
        "c",
        "loss = losses.ContrastiveLoss(model)\n" + TRAINER,
        False,
        "the loss is ContrastiveLoss",
    ),
    Case(
        "matryoshka-around-cosine",
        "c",
        "loss = losses.MatryoshkaLoss(model, losses.CosineSimilarityLoss(model), [384, 128])\n"
        + TRAINER,
        False,
        "CosineSimilarityLoss",
    ),
    Case(
        "no-loss-given",
        "c",
        "trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_pairs)",
        False,
        "CoSENTLoss",
    ),
    Case(
        "trained-on-pairs",
        "c",
        MNRL + "trainer = SentenceTransformerTrainer(model=model, args=args, "
        "train_dataset=pairs, loss=loss)",
        False,
        "255 training rows: train on all 730",
    ),
    Case(
        "own-args-without-seed",
        "c",
        MNRL + "args = SentenceTransformerTrainingArguments(output_dir=args.output_dir, "
        'max_steps=32, per_device_train_batch_size=32, report_to="none")\n' + TRAINER,
        False,
        "seed 42, not SEED",
    ),
    Case(
        "other-max-steps",
        "c",
        MNRL + "args = SentenceTransformerTrainingArguments(output_dir=args.output_dir, "
        'max_steps=100, per_device_train_batch_size=32, seed=SEED, report_to="none")\n' + TRAINER,
        False,
        "max_steps=100",
    ),
    Case("trainer-left-none", "c", MNRL, False, "trainer is still None"),
    Case(
        "transformers-trainer",
        "c",
        MNRL + "from transformers import Trainer\n"
        "trainer = Trainer(model=model, args=args, train_dataset=train_pairs)",
        False,
        "trainer is a Trainer",
    ),
    Case(
        "trainer-class-itself",
        "c",
        MNRL + "trainer = SentenceTransformerTrainer",
        False,
        "the class itself",
    ),
    Case(
        "train-method-uncalled",
        "c",
        MNRL + TRAINER + "trainer = trainer.train",
        False,
        "not its result",
    ),
    Case(
        "loss-as-trainer", "c", MNRL + "trainer = loss", False, "make a SentenceTransformerTrainer"
    ),
]

# --------------------------------------------------------------------------- d


def gain_case(id_: str, body: str, passed: bool, says: str = "") -> Case:
    code = "def gain_is_real(interval):\n" + textwrap.indent(body, "    ")
    return Case(id_, "d", code, passed, says)


D = [
    gain_case("reference", 'return interval["ci_low"] > 0', True, "right on every test interval"),
    gain_case("not-at-most-zero", 'return not interval["ci_low"] <= 0', True),
    gain_case("zero-below", 'return 0 < interval["ci_low"]', True),
    gain_case("min-of-both-ends", 'return min(interval["ci_low"], interval["ci_high"]) > 0', True),
    gain_case("both-ends", 'return interval["ci_low"] > 0 and interval["ci_high"] > 0', True),
    gain_case("numpy-bool", 'import numpy as np\nreturn np.bool_(interval["ci_low"] > 0)', True),
    gain_case(
        "numpy-comparison", 'import numpy as np\nreturn np.float64(interval["ci_low"]) > 0', True
    ),
    gain_case(
        "if-else",
        'if interval["ci_low"] > 0:\n    return True\nelse:\n    return False',
        True,
    ),
    gain_case(
        "mean-above-zero",
        'return interval["mean_diff"] > 0',
        False,
        "Judge by the interval's low end",
    ),
    gain_case(
        "high-end-above-zero",
        'return interval["ci_high"] > 0',
        False,
        "the interval reaches below it",
    ),
    gain_case(
        "excludes-zero-either-side",
        'return interval["ci_low"] > 0 or interval["ci_high"] < 0',
        False,
        "made the model worse",
    ),
    gain_case(
        "at-least-zero",
        'return interval["ci_low"] >= 0',
        False,
        "an interval that starts at 0 includes 0",
    ),
    gain_case("prints", 'print(interval["ci_low"] > 0)', False, "prints its answer"),
    gain_case(
        "yes-string",
        'return "yes" if interval["ci_low"] > 0 else "no"',
        False,
        "returned a str",
    ),
    gain_case("the-low-end-itself", 'return interval["ci_low"]', False, "returned a float"),
    gain_case("wrong-key", 'return interval["low"] > 0', False, "raised KeyError ('low')"),
    gain_case("still-none", "return None", False, "still returns None"),
    Case("a-value-not-a-function", "d", "gain_is_real = True", False, "got bool"),
    Case(
        "no-parameter",
        "d",
        'def gain_is_real():\n    return gain["ci_low"] > 0',
        False,
        "raised TypeError",
    ),
]

# --------------------------------------------------------------------------- e


def ship_case(id_: str, body: str, passed: bool, says: str = "") -> Case:
    code = "def ship(gain, forgetting, max_loss):\n" + textwrap.indent(body, "    ")
    return Case(id_, "e", code, passed, says)


E = [
    ship_case(
        "reference",
        'return gain_is_real(gain) and forgetting["ci_low"] > -max_loss',
        True,
        "follows the rule on every test case",
    ),
    ship_case(
        "gain-inlined",
        'return gain["ci_low"] > 0 and forgetting["ci_low"] > -max_loss',
        True,
    ),
    ship_case(
        "loss-as-a-positive-number",
        'loss = -forgetting["ci_low"]\nreturn gain_is_real(gain) and loss < max_loss',
        True,
    ),
    ship_case(
        "all-of-a-list",
        'return all([gain_is_real(gain), forgetting["ci_low"] + max_loss > 0])',
        True,
    ),
    ship_case(
        "numpy-logical-and",
        "import numpy as np\n"
        'return np.logical_and(gain["ci_low"] > 0, forgetting["ci_low"] > -max_loss)',
        True,
    ),
    ship_case(
        "forgetting-mean",
        'return gain_is_real(gain) and forgetting["mean_diff"] > -max_loss',
        False,
        "judge by its low end",
    ),
    ship_case(
        "hard-coded-max-loss",
        'return gain_is_real(gain) and forgetting["ci_low"] > -0.05',
        False,
        "max_loss is an argument",
    ),
    ship_case(
        "ignores-forgetting",
        "return gain_is_real(gain)",
        False,
        "the course set may lose up to 0.09",
    ),
    ship_case(
        "ignores-the-gain",
        'return forgetting["ci_low"] > -max_loss',
        False,
        "the gain is not shown to be real",
    ),
    ship_case(
        "sign-low-above-max-loss",
        'return gain_is_real(gain) and forgetting["ci_low"] > max_loss',
        False,
        "a loss is negative",
    ),
    ship_case(
        "sign-low-below-minus-max-loss",
        'return gain_is_real(gain) and forgetting["ci_low"] < -max_loss',
        False,
        "a loss is negative",
    ),
    ship_case(
        "or-instead-of-and",
        'return gain_is_real(gain) or forgetting["ci_low"] > -max_loss',
        False,
        "the gain is not shown to be real",
    ),
    ship_case(
        "boundary-included",
        'return gain_is_real(gain) and forgetting["ci_low"] >= -max_loss',
        False,
        "exactly -max_loss is not above -max_loss",
    ),
    ship_case(
        "size-of-the-change",
        'return gain_is_real(gain) and abs(forgetting["ci_low"]) < max_loss',
        False,
        "improved by more than max_loss",
    ),
    ship_case(
        "forgetting-high-end",
        'return gain_is_real(gain) and forgetting["ci_high"] > -max_loss',
        False,
        "may lose up to 0.09",
    ),
    ship_case(
        "prints",
        'print(gain_is_real(gain) and forgetting["ci_low"] > -max_loss)',
        False,
        "prints its answer",
    ),
    ship_case("still-none", "return None", False, "still returns None"),
    Case(
        "two-parameters",
        "e",
        "def ship(gain, forgetting):\n    return gain_is_real(gain)",
        False,
        "raised TypeError",
    ),
    Case("a-decision-not-a-function", "e", "ship = True", False, "must be the function"),
]

# --------------------------------------------------------------------------- review, hints

REVIEW = [
    Case("reference", "review", 'review_answers = {1: "b", 2: "b", 3: "c"}', True, "3 of 3 right"),
    Case("upper-case", "review", 'review_answers = {1: "B", 2: "B", 3: "C"}', True),
    Case("parentheses", "review", 'review_answers = {1: "(b)", 2: "b)", 3: "c."}', True),
    Case("list-in-order", "review", 'review_answers = ["b", "b", "c"]', True),
    Case(
        "option-text",
        "review",
        'review_answers = {1: "b", 2: "The other positives in the same batch.", 3: "c"}',
        True,
    ),
    Case(
        "one-wrong",
        "review",
        'review_answers = {1: "b", 2: "c", 3: "c"}',
        False,
        "not quite (c): No: the qrels are the test set's",
    ),
    Case(
        "all-wrong",
        "review",
        'review_answers = {1: "a", 2: "a", 3: "a"}',
        False,
        "0 of 3 right",
    ),
    Case(
        "not-an-option",
        "review",
        'review_answers = {1: "d", 2: "b", 3: "c"}',
        False,
        "not one of the options",
    ),
    Case(
        "letters-in-one-word",
        "review",
        'review_answers = "bbc"',
        False,
        "'bbc' is not one of the options",
    ),
    Case("still-none", "review", "", False, "Answer the 3 questions first"),
    Case(
        "some-none",
        "review",
        'review_answers = {1: "b", 2: None, 3: "c"}',
        False,
        "2. not answered yet",
    ),
    Case("a-number", "review", "review_answers = 2", False, "as a dict"),
    Case("numbers-not-letters", "review", "review_answers = {1: 2, 2: 2, 3: 3}", False, "options"),
    Case("hint-no-argument", "hint", "", True, "Exercises: 'b', 'c', 'd', 'e'"),
    Case("hint-unknown", "hint", "call_with = ('z',)", True, "No hint for 'z'"),
    Case("hint-e", "hint", "call_with = ('e',)", True, "above -max_loss"),
    Case(
        "answer-c",
        "answer",
        "call_with = ('c',)",
        True,
        "losses.MultipleNegativesRankingLoss(model)",
    ),
]

CASES = B + C + D + E + REVIEW


@pytest.mark.parametrize("case", params("lab3", CASES))
def test_learner_answer(case: Case, state: dict) -> None:
    judge(case, state[case.step], CALLS[case.step], SECRETS.get(case.step, ()))


def test_the_catalogue_covers_every_exercise():
    assert len(CASES) >= 45
    for step in ("b", "c", "d", "e", "review"):
        verdicts = {c.passed for c in CASES if c.step == step}
        assert verdicts == {True, False}, f"exercise {step} needs right and wrong answers"


def test_the_reference_cases_are_the_notebooks_answers():
    """The catalogue's reference answers are the solution's code (answers.json), verbatim."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "shared/embedlab/labs/answers.json"
    answers = json.loads(path.read_text(encoding="utf-8"))["lab3"]

    def code(step: str) -> str:
        return "\n".join(ln for ln in answers[step].splitlines() if not ln.startswith("#"))

    refs = {c.step: c.code.strip() for c in CASES if c.id == "reference"}
    assert refs["b"] == code("b")
    assert refs["c"] == code("c")
    assert refs["d"].splitlines()[1].strip() == code("d")
    assert refs["e"].splitlines()[1].strip() == code("e")
    assert refs["review"] == code("review")

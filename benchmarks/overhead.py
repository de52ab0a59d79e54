"""Figure 1: what ``embedlab.embed`` costs on top of the raw sentence-transformers call.

Two measurements:

* **end to end**: ``embed`` and the raw ``encode_document`` call, interleaved, per-round
  ratio; an A/A control (raw vs raw) shows how much of that ratio is machine noise;
* **wrapper cost**: ``embed`` around the same model whose ``encode_document`` returns its
  precomputed output at once, so everything ``embed`` does except the model call is timed
  over thousands of calls (noise-free to a fraction of a microsecond), plus the steps it
  is made of.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

import embedlab
from benchmarks.common import Comparison, Config, Section, interleaved, repeat, table

#: The overhead goal of the issue: ``embed`` at most 2% slower than the raw call.
GOAL_PERCENT = 2.0
MODELS = ("all-MiniLM-L6-v2", "static-MiniLM-L6-v2-256d")
BATCH_SIZES = (1, 32)
LOOP = 500  # calls per timing of the wrapper cost


@dataclass(frozen=True)
class Case:
    """One comparison: a model, how many texts, and the batch size."""

    model: str
    n_texts: int
    batch_size: int


@dataclass(frozen=True)
class Result:
    """The end-to-end comparison of a case and the wrapper cost on the same inputs."""

    case: Case
    comparison: Comparison
    wrapper_s: float

    @property
    def overhead_percent(self) -> float:
        """``(median ratio embed/raw - 1) * 100``."""
        return (self.comparison.ratio.median - 1.0) * 100.0

    @property
    def wrapper_percent(self) -> float:
        """Wrapper cost as a share of the raw call's median time."""
        return 100.0 * self.wrapper_s / self.comparison.b.median


def raw_call(model: Any, texts: list[str], batch_size: int) -> Callable[[], Any]:
    """The sentence-transformers call that ``embed(kind="document")`` wraps."""

    def call() -> Any:
        return model.encode_document(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    return call


def ours_call(model: Any, texts: list[str], batch_size: int) -> Callable[[], Any]:
    """``embedlab.embed`` on the same inputs."""

    def call() -> Any:
        return embedlab.embed(model, texts, kind="document", batch_size=batch_size)

    return call


@contextlib.contextmanager
def instant_encode(model: Any, output: Any) -> Iterator[Callable[..., Any]]:
    """Shadow ``model.encode_document`` with a function returning ``output`` at once.

    The instance attribute hides the method; it is deleted on exit, restoring the model.
    """

    def encode_document(texts: Any, **kwargs: Any) -> Any:
        return output

    model.encode_document = encode_document
    try:
        yield encode_document
    finally:
        del model.encode_document


def _looped(fn: Callable[[], Any], n: int = LOOP) -> Callable[[], None]:
    def loop() -> None:
        for _ in range(n):
            fn()

    return loop


def _per_call(fn: Callable[[], Any], rounds: int) -> float:
    """Median seconds per call of a fast function, each timing ``LOOP`` calls."""
    return repeat(_looped(fn), rounds).median / LOOP


def wrapper_cost(model: Any, texts: list[str], batch_size: int, rounds: int) -> float:
    """Seconds ``embed`` spends outside the model call (instant model minus bare call)."""
    output = raw_call(model, texts, batch_size)()
    with instant_encode(model, output) as bare:
        total = _per_call(ours_call(model, texts, batch_size), rounds)
        call = _per_call(lambda: bare(texts, batch_size=batch_size), rounds)
    return max(0.0, total - call)


def steps(model: Any, texts: list[str], rounds: int) -> list[tuple[str, float]]:
    """Seconds per call of the steps ``embed`` adds (``_count_truncated`` is private:
    looked up defensively and skipped if it was renamed)."""
    from embedlab import embeddings as emb

    raw = raw_call(model, texts, 32)()
    parts: dict[str, Callable[[], Any]] = {
        "check_texts": lambda: embedlab.check_texts(texts),
        "model_name_of": lambda: emb.model_name_of(model),
        f"to float32 (raw is {raw.dtype})": lambda: np.asarray(raw, dtype=np.float32),
        "Embeddings tag": lambda: emb.Embeddings(raw, "m", "document", normalized=True),
    }
    count = getattr(emb, "_count_truncated", None)
    if count is not None:
        parts["truncation check"] = lambda: count(model, texts)
    return [(name, _per_call(fn, rounds)) for name, fn in parts.items()]


def cases(n_texts: int) -> list[Case]:
    """Every model at batch 1 and 32 on ``n_texts`` texts, then one text at batch 1."""
    return [Case(m, n_texts, bs) for m in MODELS for bs in BATCH_SIZES] + [
        Case(m, 1, 1) for m in MODELS
    ]


def measure(cfg: Config, texts: list[str]) -> tuple[list[Result], dict[str, Comparison]]:
    """Every case end to end plus its wrapper cost, and one A/A control per model."""
    models = {name: embedlab.load_model(name) for name in MODELS}
    timing = {
        "rounds": cfg.overhead_rounds,
        "max_rounds": cfg.overhead_max_rounds,
        "budget_s": cfg.overhead_budget_s,
        "min_time_s": cfg.min_time_s,
    }
    results = []
    for i, case in enumerate(cases(len(texts))):
        model, inputs = models[case.model], texts[: case.n_texts]
        comparison = interleaved(
            ours_call(model, inputs, case.batch_size),
            raw_call(model, inputs, case.batch_size),
            seed=cfg.seed + i,
            **timing,
        )
        cost = wrapper_cost(model, inputs, case.batch_size, max(3, cfg.overhead_rounds))
        results.append(Result(case, comparison, cost))
    controls = {
        name: interleaved(
            raw_call(model, texts, 32), raw_call(model, texts, 32), seed=cfg.seed, **timing
        )
        for name, model in models.items()
    }
    return results, controls


def run(cfg: Config) -> Section:
    """Measure the helper overhead and write the section."""
    start = time.perf_counter()
    texts = embedlab.load_sentences()["text"].tolist()[: cfg.overhead_texts]
    results, controls = measure(cfg, texts)
    rounds = max(3, cfg.overhead_rounds)
    breakdown = {
        (name, n): steps(embedlab.load_model(name), texts[:n], rounds)
        for name in MODELS
        for n in (1, len(texts))
    }
    data = {
        "cases": [
            {
                **r.case.__dict__,
                "overhead_percent": r.overhead_percent,
                "wrapper_percent": r.wrapper_percent,
                "ratio": r.comparison.ratio,
            }
            for r in results
        ],  # fmt: skip
        "goal_met_batches": all(
            r.overhead_percent <= GOAL_PERCENT for r in results if r.case.n_texts > 1
        ),
        "goal_met_wrapper": all(r.wrapper_percent <= GOAL_PERCENT for r in results),
        "controls": controls,
    }
    body = _body(cfg, len(texts), results, controls, breakdown)
    title = "1. Helper overhead: embedlab.embed vs raw encode_document"
    return Section(title, body, data, time.perf_counter() - start)


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}"


def _verdict(percent: float) -> str:
    return "met" if percent <= GOAL_PERCENT else "**not met**"


def _result_row(r: Result) -> list[Any]:
    c = r.comparison
    return [
        r.case.model,
        r.case.n_texts,
        r.case.batch_size,
        f"{c.b.median * 1000:.3g}",
        f"{c.a.median * 1000:.3g}",
        c.ratio.n,
        f"**{r.overhead_percent:+.2f}%**",
        f"{_pct(c.ratio.q1)} … {_pct(c.ratio.q3)}",
        f"{_pct(c.ratio.low)} … {_pct(c.ratio.high)}",
        _verdict(r.overhead_percent),
        f"{r.wrapper_s * 1e6:.1f} µs = **{r.wrapper_percent:.3f}%**",
        _verdict(r.wrapper_percent),
    ]


def _why(results: list[Result], breakdown: dict[tuple[str, int], list[tuple[str, float]]]) -> str:
    """Plain-language reading of the numbers: which calls miss the goal, and the cause."""
    missed = [r for r in results if r.wrapper_percent > GOAL_PERCENT]
    if not missed:
        return (
            "**Why**: `embed` adds a fixed cost of "
            f"{min(r.wrapper_s for r in results) * 1e6:.0f}–"
            f"{max(r.wrapper_s for r in results) * 1e6:.0f} µs per call, below "
            f"{GOAL_PERCENT:g}% of every raw call measured."
        )
    lo = min(r.wrapper_s for r in results) * 1e6
    hi = max(r.wrapper_s for r in results) * 1e6
    lines = []
    for r in missed:
        parts = breakdown.get((r.case.model, r.case.n_texts), [])
        top = sorted(parts, key=lambda p: -p[1])[:3]
        lines.append(
            f"- {r.case.model}, {r.case.n_texts} text(s), batch {r.case.batch_size}: the raw "
            f"call takes only {r.comparison.b.median * 1000:.3g} ms, so `embed`'s "
            f"{r.wrapper_s * 1e6:.1f} µs are {r.wrapper_percent:.1f}%. Largest steps: "
            + ", ".join(f"{name} {sec * 1e6:.1f} µs" for name, sec in top)
            + "."
        )
    return (
        "**Why the goal is missed** (only where the model call itself is sub-millisecond):\n\n"
        + "\n".join(lines)
        + f"""

`embed` costs {lo:.0f}–{hi:.0f} µs per call here, whatever the model: `check_texts`
validates every text, the truncation check reads `model.max_seq_length` and
`model.tokenizer` (properties that walk the model's module list; only texts long enough to
overflow are tokenised), and the result is tagged as an `Embeddings` array. The static
model returns float16 and `embed` converts it to float32 (a copy, on purpose: every course
function expects float32), which numpy does slowly. Against a transformer forward pass
(MiniLM: milliseconds) this is far below 0.1%; against a static model's sub-millisecond
call it is a few percent. No package code was changed for this benchmark."""
    )


def _body(
    cfg: Config,
    n_texts: int,
    results: list[Result],
    controls: dict[str, Comparison],
    breakdown: dict[tuple[str, int], list[tuple[str, float]]],
) -> str:
    header = [
        "model", "texts", "batch", "raw ms", "embed ms", "rounds", "overhead (median)",
        "IQR %", "min…max %", f"≤ {GOAL_PERCENT:g}%?", "wrapper cost (% of raw)",
        f"≤ {GOAL_PERCENT:g}%?",
    ]  # fmt: skip
    control_rows = [
        [name, c.ratio.n, f"{_pct(c.ratio.median)}%", f"{_pct(c.ratio.q1)} … {_pct(c.ratio.q3)}",
         f"{_pct(c.ratio.low)} … {_pct(c.ratio.high)}"]
        for name, c in controls.items()
    ]  # fmt: skip
    step_rows = [
        [name, n, f"{sum(s for _, s in parts) * 1e6:.1f}",
         ", ".join(f"{label} {s * 1e6:.2f}" for label, s in parts)]
        for (name, n), parts in breakdown.items()
    ]  # fmt: skip
    batched = [r for r in results if r.case.n_texts > 1]
    worst = max(results, key=lambda r: r.overhead_percent)
    worst_wrapper = max(results, key=lambda r: r.wrapper_percent)
    return f"""
Command: `{cfg.command}`

`embedlab.embed(model, texts, kind="document", batch_size=bs)` against
`model.encode_document(texts, batch_size=bs, normalize_embeddings=True, convert_to_numpy=True,
show_progress_bar=False)` on the same inputs: the first {n_texts} Lab 1 sentences at batch
size 1 and 32, and a single sentence (the latency case). Both sides are warmed up, then
timed alternately, in a random order each round, for at least {cfg.overhead_rounds} rounds
and as many more as fit in {cfg.overhead_budget_s:g} s (at most {cfg.overhead_max_rounds});
each timing repeats the call back to back until it lasts ≥ {cfg.min_time_s * 1000:g} ms.
**Overhead** = (median of the per-round ratios embed/raw − 1) × 100, with the IQR and
min…max of the per-round ratios in the same units. **Wrapper cost** = the time `embed` spends
outside the model call, measured directly: `embed` on the same model whose
`encode_document` is shadowed to return the precomputed output at once (minus that bare
call), median of {max(3, cfg.overhead_rounds)} × {LOOP} calls, divided by the raw call's
median time.

{table(header, [_result_row(r) for r in results])}

**A/A control** (raw vs raw, {n_texts} texts, batch 32, same procedure): what the ratio
shows when there is no difference at all, i.e. the resolution of the end-to-end column on
this (shared) machine.

{table(["model", "rounds", "median", "IQR %", "min…max %"], control_rows)}

**Goal (≤ {GOAL_PERCENT:g}%)**: end to end, {_verdict(max(r.overhead_percent for r in batched))}
for the batched calls ({n_texts} texts); worst measured case {worst.case.model},
{worst.case.n_texts} text(s), batch {worst.case.batch_size}: {worst.overhead_percent:+.2f}%.
By the direct wrapper cost, the worst case is {worst_wrapper.case.model},
{worst_wrapper.case.n_texts} text(s), batch {worst_wrapper.case.batch_size}:
{worst_wrapper.wrapper_s * 1e6:.1f} µs = {worst_wrapper.wrapper_percent:.2f}% of its raw call
({_verdict(worst_wrapper.wrapper_percent)}). When an end-to-end median and the wrapper cost
disagree, compare the gap with the A/A control: it is timing noise.

Where the wrapper time goes (µs per call, each step timed alone):

{table(["model", "texts", "sum µs", "steps (µs)"], step_rows)}

{_why(results, breakdown)}
"""

"""Checks for Lab 1 "Generate and Compare Embeddings".

Each check accepts any correct answer (the helper's too) and, for a wrong one, names the
likely mistake; a failure ends with how to get unstuck.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from embedlab.checks._core import CheckResult, Lab

ADVICE = (
    "Perplexity is roughly the number of neighbours each point looks at: it must be smaller "
    "than the number of points n, from about n/3 up it washes out local structure, and below "
    "5 the map breaks into tiny fragments. Pick a value from 5 up to just under n/3."
)
HINTS = {
    "0": "Multiply token_embeddings by the mask (attention_mask.unsqueeze(-1) broadcasts over "
    "the hidden numbers), sum over the tokens (dim=1), divide by each sentence's mask sum.",
    "a": "Call the model's encode_document on the list texts; its normalize_embeddings argument "
    "asks for unit vectors. One row per sentence, in the order of texts.",
    "b": "On unit vectors the cosine is the dot product, and the matrix product of E (sentences "
    "x dims) with its transpose holds the dot product of every pair of rows.",
    "c": "np.percentile takes percents (0-100), one or a list of them. Throughput is texts per "
    "second: the number of texts in the batch divided by its seconds.",
    "d": "n = len(texts); pick 5 <= perplexity < n/3. Then, per model, a TSNE with "
    "n_components=2, your perplexity and random_state=SEED; .fit_transform(vectors) returns "
    "the coordinates.",
    "review": "Answer with letters, e.g. {1: 'b', 2: 'a', ...}; each question is about "
    "something this notebook measured.",
}
_lab = Lab("lab1", HINTS)
hint, answer, review, needs = _lab.hint, _lab.answer, _lab.review, _lab.needs
__all__ = ["answer", "hint", "needs", "review", "step_0", "step_a", "step_b", "step_c", "step_d"]


class _Fail(Exception):
    """A wrong answer: ``_Fail(why)``; or one still None: ``_Fail(what, "missing")``."""


def _check(step: str) -> Callable[[Callable[..., str]], Callable[..., CheckResult]]:
    """Turn a function that returns a success message, or raises, into a check."""

    def wrap(fn: Callable[..., str]) -> Callable[..., CheckResult]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> CheckResult:
            try:
                return _lab.passed(step, fn(*args, **kwargs))
            except _Fail as exc:
                return (_lab.not_done if exc.args[1:] else _lab.failed)(step, exc.args[0])

        return run

    return wrap


def _given(value: Any, what: str) -> Any:
    if value is None:
        raise _Fail(what, "missing")
    return value


def _np(x: Any) -> np.ndarray:
    """A float64 NumPy copy of an array, a tensor (any device) or a list."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _fmt(*values: float) -> list[str]:
    """The values with enough significant digits that unequal ones never print alike."""
    for digits in range(3, 13):
        out = [f"{v:.{digits}g}" for v in values]
        if len(set(out)) == len(set(values)):
            return out
    return [repr(v) for v in values]


@_check("0")
def step_0(
    sentence_embeddings: Any, token_embeddings: Any, attention_mask: Any, model: Any,
    texts: Sequence[str],
) -> str:  # fmt: skip
    """Mean pooling by hand (before or after normalising) equals ``model.encode`` within 1e-5."""
    got = _np(_given(sentence_embeddings, "sentence_embeddings"))
    tok, mask = _np(token_embeddings), _np(attention_mask)[..., None]
    n, length, dims = tok.shape
    if got.shape != (n, dims):
        why = {
            (n, length): "you averaged over the hidden dimension (dim=-1); average over the "
            "tokens (dim=1) so that each sentence keeps its",
            (n, length, dims): "nothing was summed; sum over the tokens (dim=1) to get",
        }.get(got.shape, "expected one vector per sentence,")
        raise _Fail(
            f"sentence_embeddings has shape {got.shape}: {why} {dims} numbers ({n}, {dims})."
        )
    ref = _np(model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True))
    err = float(np.abs(_unit(got) - ref).max())
    if err > 1e-5:
        if np.abs(_unit(got) - _unit(tok.mean(1))).max() < 1e-5:
            raise _Fail(
                "you averaged the padding too: token_embeddings.mean(1) counts every [PAD] as a "
                "word and pulls short sentences towards padding. Multiply by the mask first."
            )
        raise _Fail(
            f"once normalised, your vectors differ from model.encode by up to {err:.3g} (allowed: "
            "1e-5). Use token_embeddings and attention_mask from the cell above; average dim=1."
        )
    summed = (tok * mask).sum(1)
    if np.allclose(got, summed / mask.sum(1), rtol=1e-4, atol=1e-6) or np.allclose(
        np.linalg.norm(got, axis=1), 1, atol=1e-4
    ):
        return "your mean pooling, once normalised, equals model.encode (within 1e-5)."
    if np.allclose(got, summed, rtol=1e-4):
        why = "this is the sum of the real tokens, not their mean"
    elif np.allclose(got, summed / length, rtol=1e-4):
        why = f"you divided every sentence by the padded length ({length})"
    else:
        why = "the direction is right, but these are not the means of the real tokens"
    raise _Fail(
        f"{why}: divide by each sentence's number of real tokens, attention_mask.sum(1, "
        "keepdim=True). (Normalising would hide it, but a pooled vector is a mean.)"
    )


@_check("a")
def step_a(embeddings: Any, texts: Sequence[str], models: Mapping[str, Any]) -> str:
    """Every model embedded every sentence, in order, as unit vectors of the model's size."""
    if not isinstance(_given(embeddings, "embeddings"), Mapping):
        raise _Fail(
            f"embeddings is a {type(embeddings).__name__}: fill the dict, embeddings[name]."
        )
    probe = np.random.default_rng(0).choice(len(texts), size=min(3, len(texts)), replace=False)
    for name, model in models.items():
        arr = _np(_given(embeddings.get(name), f"embeddings[{name!r}]"))
        dims = model.get_embedding_dimension()
        if arr.ndim != 2 or arr.shape[1] != dims:
            raise _Fail(
                f"embeddings[{name!r}] has shape {arr.shape}, expected ({len(texts)}, {dims}): "
                f"{name} makes {dims}-d vectors. Did you use another model's output?"
            )
        if len(arr) != len(texts):
            raise _Fail(
                f"embeddings[{name!r}] has {len(arr)} rows for {len(texts)} sentences: embed "
                "the list `texts`, all of it, in order."
            )
        norms = np.linalg.norm(arr, axis=1)
        if not np.allclose(norms, 1.0, atol=1e-3):
            raise _Fail(
                f"embeddings[{name!r}] are not unit length (norms {norms.min():.3f} to "
                f"{norms.max():.3f}): pass normalize_embeddings=True, so cosine = dot product."
            )
        ref = _np(model.encode_document([texts[i] for i in probe], normalize_embeddings=True))
        agree = np.sum(ref * arr[probe], axis=1)
        if np.any(agree < 0.99):
            i = int(probe[np.argmin(agree)])
            raise _Fail(
                f"row {i} of embeddings[{name!r}] is not the vector of texts[{i}] by {name}: "
                "keep the rows in the order of `texts`, and use this model."
            )
    sizes = ", ".join(f"{n}: {np.shape(embeddings[n])[1]}" for n in models)
    return f"{len(models)} models x {len(texts)} unit vectors ({sizes})."


@_check("b")
def step_b(sims: Any, embeddings: Mapping[str, Any]) -> str:
    """Each model's (n, n) cosine matrix, from that model's own vectors."""
    _given(sims, "sims")
    refs = {name: _unit(_np(e)) @ _unit(_np(e)).T for name, e in embeddings.items()}
    for name, emb in embeddings.items():
        s, e = _np(_given(sims.get(name), f"sims[{name!r}]")), _np(emb)
        n, dims = e.shape
        if s.shape != (n, n):
            why = " E.T @ E compares dimensions with dimensions: use E @ E.T." * (
                s.shape[0] == dims
            )
            raise _Fail(f"sims[{name!r}] has shape {s.shape}; expected ({n}, {n}).{why}")
        if np.allclose(np.diag(s), 0.0, atol=1e-3):
            raise _Fail(
                f"sims[{name!r}] has zeros on its diagonal: that is a distance, not a "
                "similarity. A sentence is identical to itself: cosine 1."
            )
        if np.allclose(s, refs[name], atol=1e-4):
            continue
        if np.allclose(s, e @ e.T, rtol=1e-4, atol=1e-4):
            raise _Fail(
                f"sims[{name!r}] are dot products of vectors that are not unit length (diagonal "
                f"{np.diag(s).min():.3f} to {np.diag(s).max():.3f}, not 1): normalise first."
            )
        other = [o for o, r in refs.items() if r.shape == s.shape and np.allclose(s, r, atol=1e-4)]
        why = f"it is the cosine matrix of {other[0]!r}" if other else "use unit vectors"
        raise _Fail(
            f"sims[{name!r}] differs from the cosine of embeddings[{name!r}] by up to "
            f"{np.abs(s - refs[name]).max():.3f}: {why}."
        )
    return f"cosine matrices for {len(embeddings)} models are right."


_METHODS = ("inverted_cdf", "averaged_inverted_cdf", "closest_observation",
            "interpolated_inverted_cdf", "hazen", "weibull", "linear", "median_unbiased",
            "normal_unbiased", "lower", "higher", "nearest", "midpoint")  # fmt: skip


def _span(lat: np.ndarray, q: float) -> tuple[float, float]:
    """The lowest and highest ``q``-th percentile over NumPy's methods."""
    values = [float(np.percentile(lat, q, method=m)) for m in _METHODS]
    return min(values), max(values)


def _within(value: float, lo: float, hi: float, rtol: float = 1e-4) -> bool:
    return lo - rtol * abs(lo) <= value <= hi + rtol * abs(hi)


@_check("c")
def step_c(
    latencies_ms: Sequence[float], p50: Any, p95: Any, n_texts: int, seconds: float,
    throughput: Any,
) -> str:  # fmt: skip
    """p50 and p95 of the latencies (any standard percentile method, within 1e-4 relative)
    and the throughput in texts per second."""
    for label, value in (("p50", p50), ("p95", p95), ("throughput", throughput)):
        _given(value, label)
    lat = np.asarray(latencies_ms, dtype=np.float64)
    for q, label, value in ((50, "p50", p50), (95, "p95", p95)):
        v, (lo, hi) = float(_np(value).squeeze()), _span(lat, q)
        if _within(v, lo, hi):
            continue
        hint = ""
        if _within(v, *_span(lat, q / 100)):
            hint = f" np.percentile takes a percent (0-100): you asked for the {q / 100:g}th."
        elif np.isclose(v, lat.mean(), rtol=1e-4):
            hint = " That is the mean: a few slow calls pull it up; use a percentile."
        elif np.isclose(v, lat.max(), rtol=1e-4):
            hint = " That is the maximum, not the 95th percentile."
        elif _within(v * 1000, lo, hi) or _within(v / 1000, lo, hi):
            hint = " Check the units: latencies_ms is in milliseconds."
        shown = _fmt(v, lo, hi)
        span = shown[1] if lo == hi else f"between {shown[1]} and {shown[2]}"
        raise _Fail(f"{label} = {shown[0]} ms, but the {q}th percentile is {span} ms.{hint}")
    got, expected = float(_np(throughput).squeeze()), n_texts / seconds
    if not np.isclose(got, expected, rtol=1e-3):
        hint = ""
        if np.isclose(got, seconds / n_texts, rtol=1e-3):
            hint = " You computed seconds per text; throughput is texts per second."
        elif np.isclose(got, expected / 1000, rtol=1e-3):
            hint = " Check the units: seconds, not milliseconds."
        elif np.isclose(got, len(lat) / seconds, rtol=1e-3):
            hint = f" Count the texts of that batch (len(texts) = {n_texts}), not the latencies."
        a, b = _fmt(got, expected)
        raise _Fail(f"throughput = {a}, expected {n_texts} / {seconds:.4g} s = {b} texts/s.{hint}")
    return "percentiles and throughput are right."


def _neighbours(x: np.ndarray, k: int = 5) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)[:, 1:]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """The mean share of each point's neighbours that two layouts have in common."""
    return float(np.mean([len(set(i) & set(j)) / len(i) for i, j in zip(a, b, strict=True)]))


@_check("d")
def step_d(
    coords: Any, embeddings: Mapping[str, Any], topics: Sequence[str], perplexity: Any
) -> str:
    """A sensible perplexity and, per model, an (n, 2) map of that model's own vectors that
    keeps topics together about as well as the vectors do (t-SNE, PCA, ... all pass)."""
    n, p = len(topics), float(_given(perplexity, "perplexity"))
    if not 5 <= p < n / 3:
        refused = " (TSNE refuses it: perplexity must be less than n_samples)" if p >= n else ""
        raise _Fail(
            f"perplexity {p:g} is too {'large' if p >= n / 3 else 'small'} for n = {n} "
            f"points{refused}. {ADVICE} Here n/3 = {n / 3:.1f}."
        )
    _given(coords, "coords")
    maps, t = {}, np.asarray(topics)
    for name in embeddings:
        c = _given(coords.get(name), f"coords[{name!r}]")
        if hasattr(c, "fit"):
            raise _Fail(
                f"coords[{name!r}] is a {type(c).__name__} estimator, not coordinates: .fit(X) "
                "returns the estimator; .fit_transform(X) returns the (n, 2) array."
            )
        maps[name] = _np(c)
        if maps[name].shape != (n, 2):
            raise _Fail(
                f"coords[{name!r}] has shape {maps[name].shape}; expected ({n}, 2): one 2-D "
                "point per sentence (n_components=2)."
            )
    names = list(maps)
    for a, b in [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]:
        if np.allclose(maps[a], maps[b]):
            raise _Fail(
                f"coords[{a!r}] and coords[{b!r}] are the same map: compute each model's map "
                "from its own vectors, embeddings[name]."
            )
    near = {name: _neighbours(_np(e)) for name, e in embeddings.items()}
    chance = float(np.sum((np.unique(t, return_counts=True)[1] / n) ** 2))
    for name, xy in maps.items():
        flat = _neighbours(xy)
        agree = {o: _overlap(flat, nb) for o, nb in near.items()}
        best = max(agree, key=agree.__getitem__)
        if agree[best] > agree[name] + 0.02:
            raise _Fail(
                f"coords[{name!r}] looks like a map of {best!r}'s vectors (their neighbours "
                f"agree {agree[best]:.0%}, {name}'s only {agree[name]:.0%}): compute each "
                "model's map from embeddings[name]."
            )
        base = float(np.mean(t[near[name]] == t[:, None]))
        kept = float(np.mean(t[flat] == t[:, None]))
        if kept < max(chance + 0.1, 0.6 * base):
            raise _Fail(
                f"in coords[{name!r}] only {kept:.0%} of each point's 5 nearest neighbours "
                f"share its topic (vectors: {base:.0%}, chance: {chance:.0%}). Are the rows in "
                "the order of the sentences, and from this model's vectors?"
            )
    return f"each of the {len(maps)} maps keeps its topics together, as its model's vectors do."

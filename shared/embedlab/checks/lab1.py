"""Checks for Lab 1 "Generate and Compare Embeddings".

Each check accepts any correct answer (not only the reference one) and, for a wrong
one, says what looks wrong. They return a :class:`CheckResult`; a notebook shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from embedlab.checks._result import CheckResult, failed, not_done, passed

__all__ = ["step_a", "step_b", "step_c", "step_d"]


def _dims(model: Any) -> int:
    for attr in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        if hasattr(model, attr):
            return int(getattr(model, attr)())
    return int(model.dims)


def step_a(
    embeddings: Mapping[str, Any], texts: Sequence[str], models: Mapping[str, Any]
) -> CheckResult:
    """Every model embedded every sentence, in order, as unit vectors of the model's size.

    Example:
        >>> step_a(embeddings, texts, models)
        # [PASSED] Step a: 3 models x 96 sentences ...
    """
    step = "Step a"
    if embeddings is None:
        return not_done(step, "embeddings")
    missing = [name for name in models if name not in embeddings]
    if missing:
        return failed(step, f"no embeddings for {missing}: fill embeddings[name] for every model.")
    rng = np.random.default_rng(0)
    probe = rng.choice(len(texts), size=min(3, len(texts)), replace=False)
    for name, model in models.items():
        emb = embeddings[name]
        if emb is None:
            return not_done(step, f"embeddings[{name!r}]")
        arr = np.asarray(emb, dtype=np.float32)
        if arr.ndim != 2:
            return failed(
                step, f"embeddings[{name!r}] should be a 2-D array, got shape {arr.shape}."
            )
        dims = _dims(model)
        if arr.shape != (len(texts), dims):
            if arr.shape[1:] == (dims,):
                return failed(
                    step,
                    f"embeddings[{name!r}] has {arr.shape[0]} rows for {len(texts)} sentences: "
                    "embed all of them, once each, in order.",
                )
            return failed(
                step,
                f"embeddings[{name!r}] has shape {arr.shape}, expected ({len(texts)}, {dims}). "
                f"{name} makes {dims}-d vectors: did you use another model's output?",
            )
        norms = np.linalg.norm(arr, axis=1)
        if not np.allclose(norms, 1.0, atol=1e-3):
            return failed(
                step,
                f"embeddings[{name!r}] are not unit length (norms {norms.min():.2f}-"
                f"{norms.max():.2f}). Normalise them (normalize=True) so cosine = dot product.",
            )
        ref = np.asarray(
            model.encode_document([texts[i] for i in probe], normalize_embeddings=True),
            dtype=np.float32,
        )
        agree = np.sum(ref * arr[probe], axis=1)
        if np.any(agree < 0.99):
            return failed(
                step,
                f"row {int(probe[np.argmin(agree)])} of embeddings[{name!r}] is not the "
                f"embedding of texts[{int(probe[np.argmin(agree)])}] by {name}: keep the rows "
                "in the order of `texts` and embed with the matching model.",
            )
    dims = ", ".join(f"{n}: {np.shape(embeddings[n])[1]}" for n in models)
    return passed(step, f"{len(models)} models x {len(texts)} sentences, unit vectors ({dims}).")


def step_b(sims: Mapping[str, Any], embeddings: Mapping[str, Any]) -> CheckResult:
    """Each model's (n, n) cosine similarity matrix matches its embeddings.

    Example:
        >>> step_b(sims, embeddings)
        # [PASSED] Step b: ...
    """
    step = "Step b"
    if sims is None:
        return not_done(step, "sims")
    for name, emb in embeddings.items():
        if name not in sims or sims[name] is None:
            return not_done(step, f"sims[{name!r}]")
        s = np.asarray(sims[name], dtype=np.float64)
        e = np.asarray(emb, dtype=np.float64)
        n = len(e)
        if s.shape != (n, n):
            return failed(
                step,
                f"sims[{name!r}] has shape {s.shape}; expected ({n}, {n}): every sentence "
                "against every sentence.",
            )
        if np.allclose(np.diag(s), 0.0, atol=1e-3):
            return failed(
                step,
                f"sims[{name!r}] has zeros on its diagonal: that is a distance "
                "(1 - cosine), not a similarity. A sentence is identical to itself: 1.0.",
            )
        if not np.allclose(s, s.T, atol=1e-4):
            return failed(step, f"sims[{name!r}] is not symmetric: cos(a, b) must equal cos(b, a).")
        unit = e / np.linalg.norm(e, axis=1, keepdims=True)
        ref = unit @ unit.T
        if not np.allclose(s, ref, atol=1e-3):
            err = float(np.abs(s - ref).max())
            return failed(
                step,
                f"sims[{name!r}] differs from the cosine similarity of embeddings[{name!r}] by "
                f"up to {err:.3f}. Use cosine (normalised vectors), and the same model's vectors "
                "on both sides.",
            )
    return passed(step, f"cosine matrices for {len(embeddings)} models are right.")


def step_c(
    latencies_ms: Sequence[float],
    p50: float | None,
    p95: float | None,
    n_texts: int,
    seconds: float,
    throughput: float | None,
) -> CheckResult:
    """p50/p95 from single-query latencies, and throughput in texts per second.

    Any percentile definition between NumPy's 'lower' and 'higher' methods is accepted.
    """
    step = "Step c"
    for label, value in (("p50", p50), ("p95", p95), ("throughput", throughput)):
        if value is None:
            return not_done(step, label)
    lat = np.asarray(latencies_ms, dtype=float)
    for q, label, value in ((50, "p50", p50), (95, "p95", p95)):
        lo = np.percentile(lat, q, method="lower")
        hi = np.percentile(lat, q, method="higher")
        if not lo - 1e-9 <= float(value) <= hi + 1e-9:
            hint = ""
            if np.isclose(float(value), lat.mean()):
                hint = " That is the mean: a few slow calls pull it up; use a percentile."
            elif np.isclose(float(value), lat.max()):
                hint = " That is the maximum, not the 95th percentile."
            elif lo <= float(value) / 1000 <= hi or lo <= float(value) * 1000 <= hi:
                hint = " Check the units: latencies are in milliseconds."
            return failed(
                step,
                f"{label} = {float(value):.3g} ms, but the {label[1:]}th percentile of "
                f"latencies_ms is between {lo:.3g} and {hi:.3g} ms.{hint}",
            )
    expected = n_texts / seconds
    if not np.isclose(float(throughput), expected, rtol=1e-3):
        hint = ""
        if np.isclose(float(throughput), seconds / n_texts, rtol=1e-3):
            hint = " You computed seconds per text; throughput is texts per second."
        elif np.isclose(float(throughput), expected / 1000, rtol=1e-3) or np.isclose(
            float(throughput), expected * 1000, rtol=1e-3
        ):
            hint = " Check the units: seconds, not milliseconds."
        return failed(
            step,
            f"throughput = {float(throughput):.3g}, expected {n_texts} texts / "
            f"{seconds:.3g} s.{hint}",
        )
    return passed(step, "percentiles and throughput are right.")


def _knn_topic_purity(x: np.ndarray, topics: np.ndarray, k: int = 5) -> float:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    idx = nn.kneighbors(x, return_distance=False)[:, 1:]
    return float(np.mean(topics[idx] == topics[:, None]))


def step_d(
    coords: Any, embeddings: Any, topics: Sequence[str], perplexity: float | None
) -> CheckResult:
    """2-D coordinates (one row per sentence) that keep topics together as the vectors do.

    The check compares 5-nearest-neighbour topic agreement in 2-D with that of the
    original vectors, so any sound projection passes.
    """
    step = "Step d"
    if perplexity is None:
        return not_done(step, "perplexity")
    if coords is None:
        return not_done(step, "coords")
    xy = np.asarray(coords, dtype=float)
    emb = np.asarray(embeddings, dtype=float)
    n = len(emb)
    if not 0 < float(perplexity) < n / 3 + 1:
        return failed(
            step,
            f"perplexity {perplexity} is too large for {n} points: it is roughly the "
            f"number of neighbours each point considers; keep it well under n/3 = {n / 3:.0f}.",
        )
    if xy.shape != (n, 2):
        return failed(
            step, f"coords has shape {xy.shape}; expected ({n}, 2), one 2-D point per sentence."
        )
    if not np.all(np.isfinite(xy)):
        return failed(step, "coords contains NaN or infinite values.")
    t = np.asarray(topics)
    base = _knn_topic_purity(emb, t)
    got = _knn_topic_purity(xy, t)
    chance = float(np.sum((np.unique(t, return_counts=True)[1] / n) ** 2))
    if got < max(chance + 0.1, 0.6 * base):
        return failed(
            step,
            f"only {got:.0%} of each point's 5 nearest neighbours share its topic in 2-D "
            f"(vs {base:.0%} in the original space, {chance:.0%} by chance). Are the rows in "
            "the same order as the sentences, and from this model's embeddings?",
        )
    return passed(step, "the 2-D map keeps sentences of a topic together, as the full vectors do.")

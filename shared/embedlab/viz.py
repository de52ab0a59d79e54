"""Plots for the labs: similarity heatmaps and t-SNE maps, one panel per model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from embedlab.errors import InvalidInputError

__all__ = ["plot_similarity_heatmaps", "tsne_2d", "plot_tsne", "default_perplexity"]


def plot_similarity_heatmaps(
    sims: Mapping[str, np.ndarray], labels: Sequence[str] | None = None, *, vmin: float = -0.2
):
    """One cosine-similarity heatmap per model, side by side. Returns the figure.

    Example:
        >>> fig = plot_similarity_heatmaps({"minilm": S1, "mpnet": S2}, labels=short_texts)
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, len(sims), figsize=(4.2 * len(sims), 4), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], sims.items(), strict=True):
        sns.heatmap(
            np.asarray(matrix),
            ax=ax,
            vmin=vmin,
            vmax=1,
            cmap="viridis",
            square=True,
            cbar=ax is axes[0][-1],
            xticklabels=labels if labels is not None else False,
            yticklabels=labels if labels is not None else False,
        )
        ax.set_title(name, fontsize=10)
    fig.tight_layout()
    return fig


def default_perplexity(n_points: int) -> float:
    """A t-SNE perplexity suited to ``n_points``: 30, or less for small sets (< n/3).

    Example:
        >>> default_perplexity(96), default_perplexity(30)
        (30.0, 9.0)
    """
    if n_points < 5:
        raise InvalidInputError(f"t-SNE needs at least 5 points, got {n_points}.")
    return float(min(30, max(2, (n_points - 1) // 3)))


def tsne_2d(x: np.ndarray, *, seed: int = 0, perplexity: float | None = None) -> np.ndarray:
    """2-D t-SNE coordinates (scikit-learn, cosine metric, PCA init, seeded)."""
    from sklearn.manifold import TSNE

    arr = np.asarray(x, dtype=np.float32)
    perp = default_perplexity(len(arr)) if perplexity is None else float(perplexity)
    if not 0 < perp < len(arr):
        raise InvalidInputError(
            f"perplexity must be between 0 and the number of points ({len(arr)}), got {perp}. "
            "Typical values are 5 to 50; use fewer for small sets."
        )
    tsne = TSNE(n_components=2, perplexity=perp, metric="cosine", init="pca", random_state=seed)
    return tsne.fit_transform(arr)


def plot_tsne(coords: Mapping[str, np.ndarray], topics: Sequence[str], *, title: str = "t-SNE"):
    """Scatter 2-D coordinates per model, coloured by topic. Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, len(coords), figsize=(4.2 * len(coords), 4), squeeze=False)
    for ax, (name, xy) in zip(axes[0], coords.items(), strict=True):
        sns.scatterplot(
            x=xy[:, 0], y=xy[:, 1], hue=list(topics), ax=ax, s=18, legend=ax is axes[0][-1]
        )
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1, 1), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig

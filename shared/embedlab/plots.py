"""The labs' figures, each with a title, labelled axes and a colour bar or legend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def heatmaps(sims: Mapping[str, Any], labels: Sequence[str], *, title: str = "Cosine similarity"):
    """One annotated similarity heatmap per model (seaborn), side by side, rows and columns
    labelled, one shared colour bar."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    size = (3.2 * len(sims) + 2.4, 3.6)
    fig, axes = plt.subplots(
        1, len(sims), figsize=size, dpi=100, squeeze=False, layout="constrained"
    )
    for i, (ax, (name, matrix)) in enumerate(zip(axes[0], sims.items(), strict=True)):
        sns.heatmap(
            np.asarray(matrix, dtype=float),
            ax=ax,
            vmin=0,
            vmax=1,
            cmap="viridis",
            annot=True,
            fmt=".2f",
            annot_kws={"fontsize": 6},
            cbar=False,
            square=True,
            xticklabels=labels,
            yticklabels=labels if i == 0 else False,
        )
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("sentence")
    axes[0][0].set_ylabel("sentence")
    fig.colorbar(axes[0][0].collections[0], ax=axes[0].tolist(), label="cosine similarity")
    fig.suptitle(title)
    return fig


def scatter_2d(coords: Mapping[str, Any], groups: Sequence[str], *, title: str = "t-SNE map"):
    """2-D maps side by side (e.g. t-SNE), one colour-blind-safe colour and marker per group,
    with a legend."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    size = (3.2 * len(coords) + 1.8, 3.2)
    fig, axes = plt.subplots(
        1, len(coords), figsize=size, dpi=100, squeeze=False, layout="constrained"
    )
    names = sorted(set(groups))
    colours = sns.color_palette("colorblind", len(names))
    markers = "osD^vP*X"
    for ax, (name, xy) in zip(axes[0], coords.items(), strict=True):
        xy = np.asarray(xy)
        for i, g in enumerate(names):
            mask = np.array([x == g for x in groups])
            ax.scatter(
                xy[mask, 0], xy[mask, 1], s=16, color=colours[i], marker=markers[i % 8], label=g
            )
        ax.set(xlabel="t-SNE 1", ylabel="t-SNE 2", xticks=[], yticks=[])
        ax.set_title(name, fontsize=9)
    axes[0][-1].legend(title="topic", loc="upper left", bbox_to_anchor=(1, 1), fontsize=8)
    fig.suptitle(title)
    return fig


def lines(curves: Mapping[str, Any], *, x: str, y: str, title: str, log: bool = False):
    """Curves from tables with columns ``x`` and ``y`` (or the index for ``x``), one per name."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    for name, table in curves.items():
        xs = table.index if x == table.index.name else table[x]
        ax.plot(xs, table[y], marker="o", markersize=4, label=name)
    ax.set(xlabel=x, ylabel=y, title=title)
    if log:
        ax.set(xscale="log", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig

"""Lab 2's decision record: ``model_table`` gathers this run's measurements, and
``decision_record(table, chosen, ...)`` states the choice, the rule, the budget, the numbers
and where each model's weights came from; ``record.save(path)`` writes it as markdown."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from embedlab.errors import InvalidInputError

RULE = (
    "highest nDCG@10 among the models whose p95 single-query latency is within the budget; "
    "exact ties go to the higher throughput; no model if none is within the budget"
)
QUALITY = ("nDCG@10", "MRR@10", "P@10", "R@10")


def model_table(results: dict, latency: dict, sweeps: dict) -> pd.DataFrame:
    """One row per model of ``{model: evaluate_model(...)}``, ``{model: measure_latency(...)}``
    and ``{model: batch_sweep(...)}``: quality, p50/p95 ms, best texts/s and its batch, dims."""
    rows = {}
    for name, res in results.items():
        if name not in latency or name not in sweeps:
            raise InvalidInputError(f"{name!r} has no latency or sweep: time every model.")
        rate = sweeps[name]["texts_per_s"]
        rows[name] = {
            **{m: float(res.summary[m]) for m in QUALITY},
            "p50_ms": float(latency[name]["p50_ms"]),
            "p95_ms": float(latency[name]["p95_ms"]),
            "texts_per_s": float(rate.max()),
            "batch_size": int(rate.idxmax()),
            "dims": int(res.doc_embeddings.shape[1]),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def chosen_problem(chosen: Any, table: pd.DataFrame) -> str | None:
    """What is wrong with ``chosen`` as a row label of ``table`` (or ``None``), else ``None``."""
    if chosen is None or (isinstance(chosen, str) and chosen in table.index):
        return None
    if isinstance(chosen, pd.Series):
        return (
            "a whole row (a pandas Series). Return the model's name, the row's index label: "
            "row.name, or table.index[...] / .idxmax()."
        )
    if isinstance(chosen, pd.DataFrame | pd.Index | list | tuple):
        return f"a {type(chosen).__name__}. Return one model name (a string), or None."
    return f"{chosen!r}, which is not a model in the table ({', '.join(table.index)}) nor None."


def _provenance(model: Any) -> tuple[str, str, str, str]:
    """(source, repository, revision, weights sha256): what embedlab.model_info recorded."""
    from embedlab.models import model_info

    info = model_info(model)
    sha = info.get("weights_sha256")
    checked = " (official file, checked)" if info.get("verified") else ""
    return (
        info.get("source") or "unknown source",
        f"`{info['repository']}`" if info.get("repository") else "none",
        f"`{info['revision']}`" if info.get("revision") else "not known",
        f"`{sha}`{checked}" if sha else "not measured",
    )


@dataclass
class DecisionRecord:
    """Which model, by which rule and budget, from which measurements; ``markdown`` renders it."""

    chosen: Any
    budget_ms: float
    table: pd.DataFrame = field(repr=False)
    provenance: dict[str, tuple[str, str, str, str]] = field(repr=False)
    dataset: str = ""
    device: str = ""
    rule: str = RULE
    created: str = field(default_factory=lambda: datetime.date.today().isoformat())

    @property
    def markdown(self) -> str:
        """The record as a markdown document."""
        from embedlab import __version__
        from embedlab.quantization import memory_footprint

        if problem := chosen_problem(self.chosen, self.table):
            raise InvalidInputError(f"chosen cannot go in the record: it is {problem}")
        t, budget = self.table, self.budget_ms
        head = f"**Chosen: `{self.chosen}`**" if self.chosen else "**No model is within budget.**"
        lines = [
            "# Decision record: embedding model", "", head, "",
            f"- Rule: {self.rule}.",
            f"- Budget: p95 single-query latency <= {budget:g} ms for the embedding step.",
            f"- Measured on: {self.device}; test set: {self.dataset}.",
            f"- Written on {self.created} by embedlab {__version__}; every number below was "
            "measured in the run that wrote this file.", "",
            "| model | nDCG@10 | MRR@10 | P@10 | R@10 | p95 ms | texts/s (batch) | dims "
            "| 1M docs: float32 / int8 / binary | within budget |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        for name, r in t.iterrows():
            size = " / ".join(memory_footprint(1_000_000, int(r["dims"]))["size"])
            quality = " | ".join(f"{r[m]:.3f}" for m in QUALITY)
            lines.append(
                f"| `{name}` | {quality} | {r['p95_ms']:.1f} | {r['texts_per_s']:.0f} "
                f"({int(r['batch_size'])}) | {int(r['dims'])} | {size} "
                f"| {'yes' if r['p95_ms'] <= budget else 'no'} |"
            )
        lines += [
            "",
            "## Provenance",
            "",
            "| model | source | repository | revision | weights sha256 |",
        ]
        lines += ["|---|---|---|---|---|"]
        for name in t.index:
            lines.append(f"| `{name}` | {' | '.join(self.provenance[name])} |")
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        return self.markdown

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the markdown to ``path`` (folders are created); return the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.markdown, encoding="utf-8")
        return out


def decision_record(
    table: pd.DataFrame, chosen: Any, *, budget_ms: float, models: dict, dataset: Any
) -> DecisionRecord:
    """The record of ``chosen`` (a row label of :func:`model_table`, or ``None``) under a p95
    budget. ``models`` (from :func:`embedlab.load_model`) give the provenance. ``chosen`` is
    checked when the record is rendered, so a lab's check can explain a wrong one first."""
    from embedlab.models import device_info

    missing = [n for n in table.index if n not in models]
    if missing:
        raise InvalidInputError(f"models has no entry for {missing}: pass every loaded model.")
    info = device_info(str(next(iter(models.values())).device))
    return DecisionRecord(
        chosen,
        budget_ms,
        table.copy(),
        {name: _provenance(models[name]) for name in table.index},
        f"{dataset.name} ({len(dataset.corpus)} documents, {len(dataset.queries)} queries)",
        f"{info['device']} ({info['device_name']}, {info['torch_threads']} torch threads)",
    )

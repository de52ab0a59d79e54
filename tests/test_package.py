"""The helper stays small and tidy: size, public names, lazy imports, no import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import embedlab

PACKAGE = Path(embedlab.__file__).parent


CORE = (
    "__init__",
    "models",
    "embeddings",
    "cache",
    "data",
    "retrieval",
    "timing",
    "quantization",
    "openai_api",
    "plots",
    "errors",
)  # fmt: skip  (a list of names in a test, not packed code)
CORE_BUDGET = 2_500


def _formatted_lines(path: Path) -> int:
    """Lines of a module once ruff has formatted it (what the budget counts)."""
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(path), "-"],
        input=path.read_text(),
        capture_output=True,
        text=True,
        check=True,
    )
    return len(out.stdout.splitlines())


def test_the_core_is_at_most_2500_formatted_lines_and_nothing_is_packed():
    """The core: loading, data, embedding, cache, retrieval, timing, quantization, API, plots,
    errors. Per-lab material (embedlab.labs) does not count; no line escapes the formatter."""
    core = {name: _formatted_lines(PACKAGE / f"{name}.py") for name in CORE}
    assert set(CORE) == {p.stem for p in PACKAGE.glob("*.py")}, "a new core module? add it here"
    assert sum(core.values()) <= CORE_BUDGET, f"the core has {sum(core.values())} lines: {core}"
    packed = [
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "fmt: skip" in p.read_text()
    ]
    assert not packed, f"# fmt: skip in {packed}: meet the budget with simpler code instead"


def test_every_public_name_resolves_and_is_documented():
    assert len(embedlab.__all__) == len(set(embedlab.__all__))
    for name in embedlab.__all__:
        value = getattr(embedlab, name)
        if not isinstance(value, tuple):  # COURSE_MODELS
            assert (value.__doc__ or "").strip(), f"embedlab.{name} has no docstring"
    shown = {n for n in dir(embedlab) if not n.startswith("_")}
    assert set(embedlab.__all__) <= shown
    assert {"models", "timing", "retrieval", "labs"} <= shown  # modules are not hidden


def test_the_version_has_one_source():
    import importlib.metadata
    import tomllib

    pyproject = tomllib.loads((PACKAGE.parent.parent / "pyproject.toml").read_text())
    assert embedlab.__version__ == pyproject["project"]["version"]
    assert embedlab.__version__ == importlib.metadata.version("embedlab")
    assert "__version__ =" not in (PACKAGE / "__init__.py").read_text().replace(
        "__version__ = _metadata", ""
    ).replace('__version__ = "0+unknown"', "")


def test_import_embedlab_loads_neither_torch_nor_sentence_transformers():
    code = (
        "import sys, embedlab; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'sentence_transformers', 'transformers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    importtime = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import embedlab"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0] for line in importtime.stderr.splitlines()
    }
    assert not imported & {"torch", "sentence_transformers"}


def test_first_model_access_imports_the_libraries():
    code = (
        "import sys, embedlab; embedlab.load_model; embedlab.models.pick_device(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def _imports(path: Path) -> set[str]:
    """Modules of the package imported at module level (lazy imports inside functions excluded)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("embedlab"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("embedlab"))
    return found


def test_no_import_cycles_inside_the_package():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        modules[name] = path
    graph = {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    # every function-level import too: a cycle through a lazy import is still a tangle of rooms
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in modules and node.module != name:
                graph[name].add(node.module)
    graph = {
        n: {m for m in deps if not n.startswith(m + ".") and m != "embedlab"}
        for n, deps in graph.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*stack, node, dep])}")
            if dep not in state:
                visit(dep, [*stack, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])

"""The helper stays small and tidy: size, public names, lazy imports, no import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import embedlab

PACKAGE = Path(embedlab.__file__).parent


def test_package_is_at_most_4000_lines():
    lines = sum(len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py"))
    assert lines <= 4000, f"shared/embedlab has {lines} lines of Python; the budget is 4,000"


def test_at_most_35_public_names_and_all_of_them_resolve():
    assert len(embedlab.__all__) <= 35
    for name in embedlab.__all__:
        assert getattr(embedlab, name) is not None, name
    assert sorted(dir(embedlab)) == sorted(embedlab.__all__)


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

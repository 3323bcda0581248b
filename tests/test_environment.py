"""pyproject.toml and environment.yml must describe the same environment."""
from __future__ import annotations

import json
import re
from pathlib import Path

import tomllib
import yaml


ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda package name -> PyPI name


def _split(requirement: str) -> tuple[str, str]:
    """'torch>=2.2' -> ('torch', '>=2.2'); names are normalised to lower case."""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return dict(_split(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs: dict[str, str] = {}
    for dep in env["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            if entry.startswith("-e") or entry.startswith("python") or entry == "pip":
                continue
            name, spec = _split(entry.replace("=", "==", 1) if re.match(r"^[\w-]+=[^=]", entry) else entry)
            reqs[CONDA_NAMES.get(name, name)] = spec
    return reqs


def test_environment_yml_lists_the_same_packages_and_ranges_as_pyproject():
    assert conda_requirements() == pyproject_requirements()


def test_environment_yml_installs_seglib_itself():
    text = (ROOT / "environment.yml").read_text()
    assert "- -e ." in text


def test_torch_is_a_range_not_a_pin():
    """Colab keeps its preinstalled torch: the metadata must never pin an exact version."""
    for name, spec in pyproject_requirements().items():
        assert "==" not in spec, f"{name} is pinned exactly ({spec}); use a range"


def test_stardist_is_installed_without_its_dependencies_everywhere_the_course_is_set_up():
    """Lesson 07's nuclei tile is stardist's package data; its numba/csbdeep must never be pulled in."""
    line = 'pip install --quiet --no-deps "stardist>=0.9"'
    assert line in (ROOT / "Makefile").read_text()
    assert 'pip install --no-deps "stardist>=0.9"' in (ROOT / "environment.yml").read_text()
    cells = json.loads((ROOT / "notebooks" / "07_unet.ipynb").read_text())["cells"]
    colab = next("".join(c["source"]) for c in cells if "google.colab" in "".join(c["source"]))
    assert '%pip install -q --no-deps "stardist>=0.9"' in colab

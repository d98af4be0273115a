"""What the sdist carries (everything the build reads, the C library with its Makefiles, docs,
examples, license), what it leaves out (the generated _core.c), and the version's one place.
The sdist and wheel installs themselves run in .ci/run (a clean venv outside the checkout)."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import fastgru

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sdist_names(tmp_path_factory):
    """The files of the sdist that `python -m build` makes, as a release does (in isolation,
    with pyproject.toml's build requirements)."""
    out = tmp_path_factory.mktemp("sdist")
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "-o", str(out), str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    (tarball,) = out.glob("fastgru-*.tar.gz")
    with tarfile.open(tarball) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


def tracked(*patterns):
    r = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("not a git checkout")
    return set(r.stdout.split())


@pytest.mark.slow
def test_sdist_carries_what_the_build_and_users_need(sdist_names):
    needed = tracked("fastgru/*.py", "fastgru/*.pyx", "fastgru/*.pxi", "fastgru/py.typed",
                     "fastgru/data/*", "src_c/*", "tests/c/*", "examples/*", "docs/*.md")
    needed |= {"setup.py", "pyproject.toml", "LICENSE", "README.md", "CHANGELOG.md",
               "src_c/flags.mk", "src_c/Makefile", "tests/c/Makefile"}
    assert not needed - sdist_names, sorted(needed - sdist_names)


@pytest.mark.slow
def test_sdist_leaves_out_generated_and_built_files(sdist_names):
    assert "fastgru/_core.c" not in sdist_names
    assert not [n for n in sdist_names if n.endswith((".so", ".o", ".a", ".pyc"))]


def test_the_version_has_one_place():
    assert importlib.metadata.version("fastgru") == fastgru.__version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and fastgru.__version__ not in pyproject

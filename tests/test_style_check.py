"""tools/check_style.py on a throwaway repository: a change fails on the violations it adds,
never on the ones its files already had."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL_DIR = os.path.dirname(sys.executable)


def tool(name):
    return shutil.which(name) or shutil.which(name, path=TOOL_DIR)


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    """A repository with the project's style files and one commit of code with old faults."""
    os.makedirs(tmp_path / "tools")
    shutil.copy(os.path.join(ROOT, "tools", "check_style.py"), tmp_path / "tools")
    for name in ("pyproject.toml", ".clang-format"):
        shutil.copy(os.path.join(ROOT, name), tmp_path)
    (tmp_path / "old.py").write_text("x = 1\ny = '" + "a" * 120 + "'\n")  # E501 already
    (tmp_path / "old.c").write_text("int f(int a) {\n    return a;\n}\n")  # brace style already
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


def check(repo):
    done = subprocess.run([sys.executable, "tools/check_style.py", "--base", "HEAD"], cwd=repo,
                          capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.skipif(tool("ruff") is None, reason="ruff not installed (pip install ruff)")
def test_python_fails_on_an_added_violation_only(repo):
    with open(repo / "old.py", "a") as f:
        f.write("z = 2\n")
    assert check(repo)[0] == 0  # the long line was there before
    with open(repo / "old.py", "a") as f:
        f.write("import os\n")
    status, out = check(repo)
    assert status == 1 and "F401" in out and "E402" in out and "E501" not in out


@pytest.mark.skipif(tool("clang-format") is None or tool("git-clang-format") is None,
                    reason="clang-format not installed (pip install clang-format)")
def test_c_fails_on_a_changed_line_that_breaks_the_format(repo):
    with open(repo / "old.c", "a") as f:
        f.write("\nint g(int b)\n{\n    return b;\n}\n")
    assert check(repo)[0] == 0  # f's brace on its line was there before; g conforms
    with open(repo / "old.c", "a") as f:
        f.write("\nint h(int c) {\n  return c;\n}\n")
    status, out = check(repo)
    assert status == 1 and "int h(int c)" in out

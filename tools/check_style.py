"""Fail on style violations that a change adds: ruff (pyproject.toml [tool.ruff]) on the changed
Python files, clang-format (.clang-format) on the changed lines of C files.

    python tools/check_style.py [--base REV]

Only what changed since REV is checked, so existing code never has to be reformatted at once.
A Python file fails when it has more violations of some rule than it had at REV; a C file fails
when clang-format would change a line the change touched. REV defaults to where this branch
left origin's default branch (or a local main), or, on that branch itself (a CI clone of main),
the previous commit. A tool that is not installed is skipped with a message (CI installs both).
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
C_SUFFIXES = (".c", ".h")


def git(*args, check=True):
    done = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip() if done.returncode == 0 else None


def default_base():
    """The merge base with origin's default branch, or HEAD^ when HEAD is on that branch."""
    for upstream in ("origin/HEAD", "origin/main", "main"):
        base = git("merge-base", "HEAD", upstream, check=False)
        if base and base != git("rev-parse", "HEAD"):
            return base
    return git("rev-parse", "--verify", "--quiet", "HEAD^", check=False)


def changed_files(base):
    """{path: its path at `base`} for the files added, modified or renamed since `base`
    (committed or not) that still exist; a renamed file is compared with its old self."""
    files = {}
    for line in git("diff", "--name-status", "-M", "--diff-filter=AMR", base).splitlines():
        status, *names = line.split("\t")
        if os.path.isfile(os.path.join(ROOT, names[-1])):
            files[names[-1]] = names[0]
    return files


def find_tool(name):
    """`name` on PATH or next to this Python (a venv's bin/ that is not on PATH)."""
    return shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))


def ruff_counts(ruff, path, source):
    """{rule code: [messages]} for `source` checked as if it were `path`."""
    done = subprocess.run([ruff, "check", "--output-format", "json", "--stdin-filename", path,
                           "-"], input=source, capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"ruff failed on {path}: {done.stderr.strip()}")
    found = collections.defaultdict(list)
    for item in json.loads(done.stdout or "[]"):
        found[item["code"]].append(f"{path}:{item['location']['row']}: {item['code']} "
                                   f"{item['message']}")
    return found


def check_python(ruff, base, paths):
    """Messages for every rule a changed Python file now breaks more often than at `base`;
    `paths` maps each file to its path at `base`."""
    problems = []
    for path, old_path in paths.items():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            now = ruff_counts(ruff, path, f.read())
        before = ruff_counts(ruff, path, git("show", f"{base}:{old_path}", check=False) or "")
        for code, messages in now.items():
            if len(messages) > len(before.get(code, ())):
                problems += messages
    return problems


def check_c(clang_format, base, paths):
    """clang-format's diff of the changed lines of changed C files ('' when they conform)."""
    if not paths:
        return ""
    done = subprocess.run([find_tool("git-clang-format"), "--binary", clang_format, "--diff",
                           "--extensions", ",".join(s[1:] for s in C_SUFFIXES), base, "--",
                           *paths], capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"git clang-format failed: {done.stderr.strip()}")
    return done.stdout if done.stdout.startswith("diff") else ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="compare with this commit (default: see above)")
    args = parser.parse_args(argv)
    base = args.base or default_base()
    if base is None:
        print("check_style: no earlier commit to compare with; nothing checked")
        return 0
    files = changed_files(base)
    failed = False
    ruff, clang_format = find_tool("ruff"), find_tool("clang-format")
    if not ruff:
        print("check_style: ruff not installed (pip install ruff); Python not checked")
    else:
        problems = check_python(ruff, base, {f: old for f, old in files.items()
                                             if f.endswith(".py")})
        for line in problems:
            print(line)
        failed |= bool(problems)
    if not (clang_format and find_tool("git-clang-format")):
        print("check_style: clang-format not installed (pip install clang-format); C not checked")
    else:
        diff = check_c(clang_format, base, [f for f in files if f.endswith(C_SUFFIXES)])
        if diff:
            print("clang-format would change these changed lines (apply with "
                  f"`git clang-format {base[:12]}`):\n{diff}")
        failed |= bool(diff)
    print(f"check_style: {len(files)} file(s) changed since {base[:12]}: "
          + ("new style violations" if failed else "no new style violations"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

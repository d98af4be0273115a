"""The GPU path: the model image run by an executor written against an array module, CuPy on
a CUDA device (``fastgru.load(path, device="cuda")``), with CUDA kernels for the GRU step (and
one generated from each CustomGRU cell's bytecode).
Importing fastgru never imports this package's CuPy parts; numpy stands in for CuPy in the
tests, so every op and option is checked on a CPU too."""

# The compile flags of every fastgru build, in one place: setup.py (the Python extension),
# src_c/Makefile (the C library) and tests/c/Makefile (the C test programs) read this file.
# Plain `NAME = value` lines: make includes it, setup.py parses the same lines.
#
# The bitwise claims (SIMD paths equal to the scalar path, the C library equal to the Python
# API) depend on these: -ffp-contract=off keeps each a*b+c as two roundings, never a fused
# multiply-add the compiler chose. No -march: the SIMD kernels carry per-function target
# attributes and the ISA is chosen at run time.

# GCC and clang (Linux, macOS, mingw-w64)
FG_OPT = -O3
FG_CFLAGS = -std=gnu11 -fno-math-errno -ffp-contract=off
FG_WARNINGS = -Wall -Wextra
FG_THREADS = -pthread
FG_OPENMP = -fopenmp

# Windows with the MSVC toolchain: the sources use GCC builtins (overflow checks, cpu
# detection, target attributes) that cl.exe lacks, so setup.py compiles with clang-cl (LLVM, or
# Visual Studio's "C++ Clang tools"), which takes MSVC's command line and GCC's builtins.
# No pthreads there: fastgru's own team is compiled out (FG_NO_PTHREADS).
FG_CLANG_CL_CFLAGS = /O2 /clang:-std=gnu11 /clang:-fno-math-errno /clang:-ffp-contract=off

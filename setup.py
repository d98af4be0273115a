"""Build fastgru: one Cython extension (fastgru._core) compiled with every C file in src_c/.

The SIMD kernels carry per-function target attributes, so the build needs no -march flag and
one binary runs on any x86-64 (or aarch64) CPU; the best ISA is chosen at run time.
OpenMP is used when the compiler supports it; otherwise the build goes on single-threaded.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def compiler_supports_openmp(compiler_cmd):
    """Try to compile and link a tiny OpenMP program with the compiler setuptools will use."""
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "t.c")
        with open(path, "w") as f:
            f.write(src)
        cmd = list(compiler_cmd) + ["-fopenmp", path, "-o", os.path.join(tmp, "t")]
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        cc = self.compiler.compiler_so[:1] if hasattr(self.compiler, "compiler_so") else ["cc"]
        openmp = os.environ.get("FASTGRU_NO_OPENMP") != "1" and compiler_supports_openmp(cc)
        if not openmp:
            sys.stderr.write("fastgru: the C compiler has no OpenMP; building single-threaded\n")
        for ext in self.extensions:
            if openmp:
                ext.extra_compile_args.append("-fopenmp")
                ext.extra_link_args.append("-fopenmp")
        super().build_extensions()


c_sources = sorted(glob.glob("src_c/*.c") + glob.glob("src_c/kernels/*.c"))
extension = Extension(
    "fastgru._core",
    sources=["fastgru/_core.pyx"] + c_sources,
    include_dirs=["src_c", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=["-O3", "-std=gnu11", "-fno-math-errno", "-ffp-contract=off",
                        "-fvisibility=hidden", "-pthread"],
    extra_link_args=["-pthread"],  # src_c/fg_team.c
)

setup(
    ext_modules=cythonize([extension], language_level=3,
                          compiler_directives={"boundscheck": False, "wraparound": False}),
    cmdclass={"build_ext": BuildExt},
)

"""Build fastgru: one Cython extension (fastgru._core) compiled with every C file in src_c/.

The compile flags come from src_c/flags.mk, shared with the C library's Makefiles. The SIMD
kernels carry per-function target attributes, so the build needs no -march flag and one binary
runs on any x86-64 (or aarch64) CPU; the best ISA is chosen at run time. OpenMP is used when
the compiler supports it; otherwise the build goes on without it (FASTGRU_NO_OPENMP=1 forces
that). On Linux the extension is linked stripped: its debug symbols are 85 % of its size.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py


def shared_flags(path="src_c/flags.mk"):
    """The `NAME = value` lines of src_c/flags.mk as {NAME: [flags]}."""
    flags = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^(\w+)\s*=\s*(.*)$", line)
            if m:
                flags[m.group(1)] = m.group(2).split()
    return flags


FLAGS = shared_flags()


def compiler_supports_openmp(compiler_cmd):
    """Try to compile and link a tiny OpenMP program with the compiler setuptools will use."""
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "t.c")
        with open(path, "w") as f:
            f.write(src)
        cmd = list(compiler_cmd) + FLAGS["FG_OPENMP"] + [path, "-o", os.path.join(tmp, "t")]
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            self.use_clang_cl_flags()
        else:
            self.use_gcc_flags()
        super().build_extensions()

    def use_gcc_flags(self):
        """GCC or clang: Linux, macOS (Apple clang has no OpenMP: the build goes on without)."""
        cc = self.compiler.compiler_so[:1] if hasattr(self.compiler, "compiler_so") else ["cc"]
        openmp = os.environ.get("FASTGRU_NO_OPENMP") != "1" and compiler_supports_openmp(cc)
        if not openmp:
            sys.stderr.write("fastgru: the C compiler has no OpenMP; building without it\n")
        compile_args = FLAGS["FG_OPT"] + FLAGS["FG_CFLAGS"] + ["-fvisibility=hidden"]
        compile_args += FLAGS["FG_THREADS"]
        link_args = FLAGS["FG_THREADS"]  # src_c/fg_team.c
        if openmp:
            compile_args += FLAGS["FG_OPENMP"]
            link_args += FLAGS["FG_OPENMP"]
        if sys.platform.startswith("linux"):
            link_args += ["-s"]
        for ext in self.extensions:
            ext.extra_compile_args += compile_args
            ext.extra_link_args += link_args

    def use_clang_cl_flags(self):
        """Windows: clang-cl in place of cl.exe (src_c/flags.mk says why), without OpenMP or
        pthreads, so every run is single-threaded."""
        clang_cl = shutil.which("clang-cl")
        if clang_cl is None:
            raise RuntimeError("fastgru: building on Windows needs clang-cl (LLVM, or Visual "
                               "Studio's C++ Clang tools) on PATH")
        if not self.compiler.initialized:
            self.compiler.initialize()
        self.compiler.cc = clang_cl
        for ext in self.extensions:
            ext.extra_compile_args += FLAGS["FG_CLANG_CL_CFLAGS"]
            ext.define_macros.append(("FG_NO_PTHREADS", "1"))


# The CUDA kernels' sources (fastgru/gpu/kernels.py compiles them with CuPy at run time): one
# copy of the C library's activation formulas, not a second version of them.
CUDA_SOURCES = ["src_c/fg_act_formulas.h", "src_c/gpu/fg_gru_step.cu"]


class BuildPy(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "fastgru", "gpu", "kernel_src")
        os.makedirs(target, exist_ok=True)
        for path in CUDA_SOURCES:
            shutil.copy(path, target)


c_sources = sorted(glob.glob("src_c/*.c") + glob.glob("src_c/kernels/*.c"))
extension = Extension(
    "fastgru._core",
    sources=["fastgru/_core.pyx"] + c_sources,
    include_dirs=["src_c", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

setup(
    ext_modules=cythonize([extension], language_level=3,
                          compiler_directives={"boundscheck": False, "wraparound": False}),
    cmdclass={"build_ext": BuildExt, "build_py": BuildPy},
)

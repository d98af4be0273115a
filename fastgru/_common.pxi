# Declarations of the three contract headers (shared by every .pxi of this module), the
# status -> Python exception mapping, and ISA / thread control.
from libc.stdint cimport SIZE_MAX, int32_t, int64_t, uint8_t
cimport numpy as cnp
import os
import threading

import numpy as np

from fastgru.errors import FastGRUError
from fastgru.spec import CELL_GATES

cnp.import_array()

cdef extern from "fg_common.h" nogil:
    enum fg_status:
        FG_OK
        FG_ERR_ARG
        FG_ERR_NOMEM
        FG_ERR_FORMAT
        FG_ERR_IO
        FG_ERR_STATE
        FG_ERR_INTERRUPTED
    const char *fg_last_error()
    enum:
        FG_ISA_SCALAR
        FG_ISA_AVX2
        FG_ISA_AVX512
        FG_ISA_NEON
    unsigned fg_isa_available()
    int fg_isa_active()
    const char *fg_isa_name(int isa_flag)
    int fg_set_isa_cap(const char *name)
    int fg_default_threads()
    const char *fg_default_threads_reason()
    double fg_cgroup_cpu_quota(const char *root)
    int fg_have_openmp()
    int fg_openmp_usable()
    void fg_set_cancel_flag(const int *flag)
    void fg_request_cancel(int on)
    int fg_check_cap(size_t bytes, const char *what)

cdef extern from "fg_team.h" nogil:
    void fg_team_set_stall(int us)
    void fg_team_set_stall_in_piece(int us)

cdef extern from "fg_activations.h" nogil:
    enum:
        FG_ACT_COUNT
    int fg_activation_is_elementwise(int act)
    int fg_activation_apply(int act, float *x, int64_t rows, int64_t n, int64_t stride)

cdef extern from "fg_gru.h" nogil:
    ctypedef struct fg_gru_config:
        int32_t input_dim
        int32_t units
        int32_t reset_after
        int32_t use_bias
        int32_t activation
        int32_t recurrent_activation
        int32_t precision
        int32_t cell
    int fg_gru_check_config(const fg_gru_config *cfg)
    size_t fg_gru_packed_bytes(const fg_gru_config *cfg)
    int fg_gru_pack(const fg_gru_config *cfg, const float *kernel, const float *recurrent_kernel,
                    const float *bias, void *packed)
    int fg_gru_unpack(const fg_gru_config *cfg, const void *packed, float *kernel,
                      float *recurrent_kernel, float *bias)
    ctypedef struct fg_gru_run:
        int64_t batch
        int64_t timesteps
        const float *x
        int64_t x_sb, x_st
        const uint8_t *mask
        int64_t m_sb, m_st
        const float *h0
        int64_t h0_sb
        const float *c0
        int64_t c0_sb
        float *y
        int64_t y_sb, y_st
        float *h_final
        int64_t hf_sb
        float *c_final
        int64_t cf_sb
        int32_t go_backwards
        int32_t return_sequences
        int32_t zero_output_for_mask
        int32_t nthreads
    size_t fg_gru_workspace_bytes(const fg_gru_config *cfg, int64_t batch, int64_t timesteps,
                                  int32_t nthreads)
    int fg_gru_forward(const fg_gru_config *cfg, const void *packed, const fg_gru_run *run,
                       void *workspace)


cdef extern from "Python.h":
    ctypedef void (*PyOS_sighandler_t)(int) noexcept nogil
    PyOS_sighandler_t PyOS_setsig(int sig, PyOS_sighandler_t handler)
    int PyErr_CheckSignals() except -1

cdef extern from "<signal.h>":
    int SIGINT

# Ctrl-C during a long run: Python only handles a signal once the main thread runs bytecode
# again, i.e. after the C call. While the main thread is in C, this handler also sets the
# main thread's cancel flag (fg_set_cancel_flag), so its run stops at its next time chunk and
# runs in other threads go on; Python's own handler still runs.
# Installing it costs ~1 us (a thread check, two sigaction calls), as much as a small call's
# maths, so runs under _SIGINT_MIN_FLOPS (~5 ms of maths) go without: Ctrl-C then raises
# KeyboardInterrupt as soon as the run returns.
cdef double _SIGINT_MIN_FLOPS = 1e8
# Calls under _NOGIL_MIN_FLOPS (~1-2 us of maths; S1's 16 -> 64 step is 3e4, S2's 64 -> 256 is
# 5e5) keep the GIL: dropping and re-taking it costs ~0.1 us, and so short a window is of no
# use to other Python threads.
cdef double _NOGIL_MIN_FLOPS = 1e5
cdef PyOS_sighandler_t _python_sigint = NULL
cdef volatile int _sigint_seen = 0
cdef int _main_cancel = 0   # the main thread's cancel flag

cdef void _on_sigint(int sig) noexcept nogil:
    global _sigint_seen, _main_cancel
    _sigint_seen = 1
    _main_cancel = 1
    if _python_sigint != NULL:   # NULL only while being installed
        _python_sigint(sig)


cdef int _sigint_cancels_begin(double flops):
    """Called before a nogil run of about `flops`: 1 when the handler was installed (long runs
    on the main thread only)."""
    global _python_sigint, _sigint_seen, _main_cancel
    if (flops < _SIGINT_MIN_FLOPS or _python_sigint != NULL
            or threading.current_thread() is not threading.main_thread()):
        return 0
    _sigint_seen = 0
    _main_cancel = 0
    _python_sigint = PyOS_setsig(SIGINT, _on_sigint)
    if <size_t>_python_sigint <= 1:   # SIG_DFL / SIG_IGN: Ctrl-C is not Python's to handle
        PyOS_setsig(SIGINT, _python_sigint)
        _python_sigint = NULL
        return 0
    fg_set_cancel_flag(&_main_cancel)   # this run (and only the main thread's) polls it
    return 1


cdef void _sigint_cancels_end(int installed, int status):
    global _python_sigint
    if not installed:
        return
    PyOS_setsig(SIGINT, _python_sigint)
    _python_sigint = NULL
    fg_set_cancel_flag(NULL)   # a later run starts uncancelled, whatever the signal's timing


cdef int _check(int status) except -1:
    """Raise the Python error for a failed C call (message from fg_last_error); 0 when FG_OK."""
    if status == FG_OK:
        return 0
    message = fg_last_error().decode("utf-8", "replace")
    if status == FG_ERR_INTERRUPTED:
        PyErr_CheckSignals()   # a Ctrl-C: Python's handler raises (or handles) it now
        raise KeyboardInterrupt(message or "fastgru: run cancelled")
    if not message:
        message = f"fastgru C library failed with status {status}"
    raise FastGRUError(message)


_ISA_FLAGS = (FG_ISA_SCALAR, FG_ISA_NEON, FG_ISA_AVX2, FG_ISA_AVX512)


def isa_available():
    """Names of the instruction sets this CPU supports, scalar first."""
    cdef unsigned mask = fg_isa_available()
    return [fg_isa_name(flag).decode() for flag in _ISA_FLAGS if mask & flag]


def isa_active():
    """Name of the instruction set kernels use now (best available under the cap)."""
    return fg_isa_name(fg_isa_active()).decode()


def set_isa_cap(name=None):
    """Cap the instruction set ("scalar", "avx2", "avx512", "neon"); None or "" lifts the cap."""
    if name is not None and not isinstance(name, str):
        raise FastGRUError(f"set_isa_cap: name must be a str or None, got {type(name).__name__}")
    _check(fg_set_isa_cap((name or "").encode()))


def default_threads():
    """Threads a call uses when none is given (FASTGRU_NUM_THREADS, else the CPUs this process
    may use: affinity mask capped by the cgroup CPU quota)."""
    return fg_default_threads()


def default_threads_reason():
    """Why default_threads() is what it is (variable, affinity mask, cgroup quota)."""
    return fg_default_threads_reason().decode()


def cgroup_cpu_quota(root=""):
    """CPUs of the cgroup CPU quota seen under directory root ("" = this system), 0.0 if none."""
    return fg_cgroup_cpu_quota(os.fsencode(root))


def have_openmp():
    """True when the C library was built with OpenMP."""
    return bool(fg_have_openmp())


def openmp_usable():
    """False in a process forked after its parent ran an OpenMP region (such regions run on
    one thread there), or when built without OpenMP."""
    return bool(fg_openmp_usable())


def request_cancel(on=True):
    """Stop every running forward pass in the process (they raise KeyboardInterrupt), e.g. when
    shutting down; Ctrl-C cancels only the main thread's run."""
    fg_request_cancel(1 if on else 0)


def check_memory_cap(nbytes, str what):
    """Raise FastGRUError unless `nbytes` (for `what`, named in the message) fit under the
    memory cap (FASTGRU_MAX_BYTES / fg_set_max_bytes); a malformed cap refuses everything."""
    _check(fg_check_cap(<size_t>min(nbytes, SIZE_MAX), what.encode()))


def info():
    """The active ISA, the thread backends, the default thread count and why, as a dict."""
    backends = ["fastgru team (GRU batch and units splits, work taken by whichever thread runs)"]
    if fg_have_openmp():
        backends.append("OpenMP (Dense rows)" if fg_openmp_usable()
                        else "OpenMP (Dense rows; one thread in this forked process)")
    return {"isa": isa_active(), "isa_available": isa_available(), "thread_backends": backends,
            "default_threads": default_threads(),
            "default_threads_reason": default_threads_reason()}


def _set_worker_stall(int us, bint in_piece=False):
    """Test hook: team worker 1 sleeps `us` microseconds before each step it works in, or
    (in_piece) inside each piece of work it has taken."""
    if in_piece:
        fg_team_set_stall_in_piece(us)
    else:
        fg_team_set_stall(us)

/* fg_common.h - status codes, last-error message, ISA and thread control.
 *
 * Shared by every part of the C library. Plain C11, no Python anywhere.
 */
#ifndef FG_COMMON_H
#define FG_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every function that can fail returns one of these; fg_last_error() gives the message. */
typedef enum fg_status {
    FG_OK = 0,
    FG_ERR_ARG = 1,      /* a bad argument: shape, size, pointer, option value */
    FG_ERR_NOMEM = 2,    /* an allocation failed, or a size is over the configured cap */
    FG_ERR_FORMAT = 3,   /* a model image / file is malformed, truncated or hostile */
    FG_ERR_IO = 4,       /* a file could not be opened or read */
    FG_ERR_STATE = 5,    /* an object was used in the wrong state (e.g. wrong batch size) */
    FG_ERR_INTERRUPTED = 6 /* the run was cancelled (fg_set_cancel_flag, fg_request_cancel) */
} fg_status;

/* Message of the last failure on the calling thread (thread-local); "" when none. */
const char *fg_last_error(void);

/* Record a failure (printf-style) and return `code`, so callers can write
 * `return fg_fail(FG_ERR_ARG, "units must be > 0, got %d", u);` */
int fg_fail(int code, const char *fmt, ...)
#if defined(__MINGW32__) /* built with mingw-w64's own C99 printf (src_c/Makefile) */
    __attribute__((format(gnu_printf, 2, 3)))
#elif defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- instruction sets -------------------------------------------------------------------- */
/* Bit flags. The active ISA is the best one the CPU has (cpuid, read once), capped by the
 * environment variable FASTGRU_ISA=scalar|neon|mve|avx2|avx512 (read once, at first use) and by
 * fg_set_isa_cap(). Asking for an ISA the CPU lacks caps at the best available one below it. */
enum {
    FG_ISA_SCALAR = 1 << 0,
    FG_ISA_AVX2 = 1 << 1,    /* AVX2 + FMA */
    FG_ISA_AVX512 = 1 << 2,  /* AVX-512 F (+ BW, DQ, VL) */
    FG_ISA_NEON = 1 << 3,    /* aarch64 Advanced SIMD */
    /* AVX512_BF16 (vdpbf16ps) on top of FG_ISA_AVX512: not an ISA of its own for fp32 runs
     * (fg_isa_active never returns it); bf16 GRUs use it when the cap allows. Its cap name
     * "avx512bf16" is the top of the order, so FASTGRU_ISA=avx512 turns native bf16 off. */
    FG_ISA_AVX512BF16 = 1 << 4,
    FG_ISA_MVE = 1 << 5      /* Arm Helium with float (the Cortex-M55 bare-metal build) */
};

unsigned fg_isa_available(void);          /* bitmask of what this CPU supports (SCALAR always) */
int fg_isa_active(void);                  /* the single FG_ISA_* flag now in use */
const char *fg_isa_name(int isa_flag); /* "scalar", "avx2", "avx512", "neon", "mve", "avx512bf16" */
/* Cap by name ("scalar", "avx2", "avx512", "avx512bf16", "neon", "mve", or "" / NULL for no cap).
 * FG_ERR_ARG on an unknown name. Affects calls that start after it returns. */
int fg_set_isa_cap(const char *name);
/* 1 when bf16 GRUs may run native AVX512_BF16 kernels (CPU has it, cap allows it). */
int fg_isa_bf16_native(void);

/* ---- threads ----------------------------------------------------------------------------- */
/* Threads used when a call passes nthreads <= 0, worked out at first use:
 * FASTGRU_NUM_THREADS if set to a positive integer, else the CPUs this process may run on
 * (its affinity mask) capped by its cgroup's CPU quota rounded up; 1 when built without
 * threads (FG_NO_PTHREADS). */
int fg_default_threads(void);
/* Why fg_default_threads() is what it is, e.g. "affinity mask: 64 CPUs; cgroup quota: 1.5
 * CPUs". */
const char *fg_default_threads_reason(void);
/* The cgroup CPU quota of this process as seen under directory `root` ("" for the real
 * system): root/proc/self/cgroup names its cgroup; the quota is the tightest of cpu.max
 * (cgroup v2) or cpu.cfs_quota_us / cpu.cfs_period_us (v1) in that cgroup and its ancestors
 * under root/sys/fs/cgroup. CPUs (may be fractional), or 0 when there is no quota. */
double fg_cgroup_cpu_quota(const char *root);
int fg_have_openmp(void);                 /* 1 when compiled with OpenMP */
/* 1 when OpenMP regions may run: built with OpenMP, and not in a process forked after its
 * parent ran one (the parent's OpenMP thread pool does not survive a fork: a region would
 * hang). Regions that may not run run on one thread. */
int fg_openmp_usable(void);

/* ---- cancellation ------------------------------------------------------------------------ */
/* A cancel belongs to the runs that hold its flag. After fg_set_cancel_flag(flag), every run
 * the calling thread starts (its threads included) polls the int at `flag` between time
 * chunks, and once it is nonzero stops with FG_ERR_INTERRUPTED (outputs are then
 * unspecified). NULL, the default, gives runs no flag. Any thread, or a signal handler, may
 * set the flag (a plain int store); clear it before the next run. */
void fg_set_cancel_flag(const int *flag);
/* While `on`, every run in the process stops as above: for a process shutting down (e.g. on
 * SIGTERM) that wants its threads' runs to end now. */
void fg_request_cancel(int on);

/* ---- memory cap -------------------------------------------------------------------------- */
/* The most bytes one block sized from a model file or a run's shape may take: a loaded image
 * (its weights), a run's workspace, a state object. Over the cap, the call fails with
 * FG_ERR_NOMEM naming the cap and the size asked for, before allocating. The cap comes from
 * the environment variable FASTGRU_MAX_BYTES (bytes, with an optional K, M or G suffix; read
 * once, at first use), replaced by fg_set_max_bytes(); 0, unset or empty means no cap (the
 * default). A malformed value fails closed: every capped allocation is refused with
 * FG_ERR_ARG naming the variable and its value, and fg_max_bytes() returns 1. */
void fg_set_max_bytes(size_t bytes);
size_t fg_max_bytes(void);
/* FG_OK when `bytes` for `what` (e.g. "the run's outputs") fit under the cap, else the failure
 * above; for callers that allocate on fastgru's behalf (examples/c/run_npy.c, the Python API). */
int fg_check_cap(size_t bytes, const char *what);

#ifdef __cplusplus
}
#endif
#endif

/* fg_common.c - last-error message, ISA selection, thread count, cancel flags. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "fg_common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FG_NO_PTHREADS
#include <pthread.h>
#endif

#include "fg_internal.h"
#include "kernels/fg_kernels.h"

/* ---- errors ------------------------------------------------------------------------------ */

static _Thread_local char last_error[512];

const char *fg_last_error(void) { return last_error; }

int fg_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- instruction sets -------------------------------------------------------------------- */

/* Candidates from best to worst; a cap allows itself and every entry after it that is listed
 * in its row, so a cap from the other architecture family falls back to scalar. */
static const int isa_order[] = {FG_ISA_AVX512, FG_ISA_AVX2, FG_ISA_NEON, FG_ISA_MVE, FG_ISA_SCALAR};
#define ISA_COUNT (int)(sizeof isa_order / sizeof isa_order[0])

static unsigned isa_allowed_under(int cap)
{
    switch (cap) {
    case FG_ISA_AVX512BF16: return FG_ISA_AVX512BF16 | isa_allowed_under(FG_ISA_AVX512);
    case FG_ISA_AVX512:
        return FG_ISA_AVX512 | isa_allowed_under(FG_ISA_AVX2);
    case FG_ISA_AVX2:
        return FG_ISA_AVX2 | isa_allowed_under(FG_ISA_NEON);
    case FG_ISA_NEON:
        return FG_ISA_NEON | isa_allowed_under(FG_ISA_MVE);
    case FG_ISA_MVE:
        return FG_ISA_MVE | FG_ISA_SCALAR;
    default: return FG_ISA_SCALAR;
    }
}

static int isa_from_name(const char *name)
{
    if (name == NULL || name[0] == '\0') return FG_ISA_AVX512BF16; /* no cap: the top */
    if (strcmp(name, fg_isa_name(FG_ISA_AVX512BF16)) == 0) return FG_ISA_AVX512BF16;
    for (int i = 0; i < ISA_COUNT; i++)
        if (strcmp(name, fg_isa_name(isa_order[i])) == 0) return isa_order[i];
    return 0;
}

/* 0 until first use; then the cap from FASTGRU_ISA (or none), replaced by fg_set_isa_cap. */
static atomic_int isa_cap;

static int current_cap(void)
{
    int cap = isa_cap;
    if (cap == 0) {
        cap = isa_from_name(getenv("FASTGRU_ISA"));
        if (cap == 0) cap = FG_ISA_AVX512BF16; /* an unknown value in the environment is ignored */
        int expected = 0;
        if (!atomic_compare_exchange_strong(&isa_cap, &expected, cap))
            cap = expected; /* fg_set_isa_cap won the race */
    }
    return cap;
}

unsigned fg_isa_available(void) { return fg_cpu_isa_flags(); }

/* The active ISA for the cap it was worked out under, as (cap << 8) | isa in one word, so a
 * reader never pairs one cap with another's ISA; 0 until first use. Every GRU call asks
 * (a one-step stream call: 42 -> ~10 instructions). */
static atomic_uint isa_for_cap;

int fg_isa_active(void)
{
    int cap = current_cap();
    unsigned known = isa_for_cap;
    if (known >> 8 == (unsigned)cap) return (int)(known & 0xFF);
    unsigned usable = fg_isa_available() & isa_allowed_under(cap);
    int isa = FG_ISA_SCALAR;
    for (int i = 0; i < ISA_COUNT && isa == FG_ISA_SCALAR; i++)
        if (usable & (unsigned)isa_order[i]) isa = isa_order[i];
    isa_for_cap = (unsigned)cap << 8 | (unsigned)isa;
    return isa;
}

int fg_isa_bf16_native(void)
{
    return (fg_isa_available() & isa_allowed_under(current_cap()) & FG_ISA_AVX512BF16) != 0;
}

const char *fg_isa_name(int isa_flag)
{
    switch (isa_flag) {
    case FG_ISA_SCALAR: return "scalar";
    case FG_ISA_AVX2: return "avx2";
    case FG_ISA_AVX512: return "avx512";
    case FG_ISA_NEON: return "neon";
    case FG_ISA_MVE:
        return "mve";
    case FG_ISA_AVX512BF16: return "avx512bf16";
    default: return "unknown";
    }
}

int fg_set_isa_cap(const char *name)
{
    int cap = isa_from_name(name);
    if (cap == 0)
        return fg_fail(FG_ERR_ARG,
                       "unknown ISA name '%s' (expected scalar, neon, mve, avx2, "
                       "avx512, avx512bf16 or empty)",
                       name);
    isa_cap = cap;
    return FG_OK;
}

/* ---- threads ----------------------------------------------------------------------------- */

int fg_have_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

#if defined(_OPENMP) && !defined(FG_NO_PTHREADS)
/* Set in a child forked after the parent asked (before its first region). */
static atomic_int openmp_forked;

static void mark_openmp_forked(void) { openmp_forked = 1; }

static void watch_forks(void) { pthread_atfork(NULL, NULL, mark_openmp_forked); }

int fg_openmp_usable(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks);
    return !openmp_forked;
}
#else
int fg_openmp_usable(void) { return fg_have_openmp(); }
#endif

#ifndef FG_NO_PTHREADS
/* CPUs in this process's affinity mask; 0 when unknown. */
static int affinity_cpus(void)
{
#if defined(__linux__)
    cpu_set_t *set = CPU_ALLOC(4096);
    size_t size = CPU_ALLOC_SIZE(4096);
    int n = set != NULL && sched_getaffinity(0, size, set) == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    return n;
#elif defined(_WIN32) /* mingw-w64: winpthreads has no sysconf, but counts the processors */
    int n = pthread_num_processors_np();
    return n > 0 && n < 4096 ? n : 0;
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 4096 ? (int)n : 0;
#endif
}
#endif

/* Works out the default thread count and writes why into reason. */
static int work_out_threads(char *reason, size_t size)
{
#ifdef FG_NO_PTHREADS
    static const char why[] = "built without threads";   /* no snprintf on bare metal */
    memcpy(reason, why, size < sizeof why ? size : sizeof why);
    reason[size - 1] = '\0';
    return 1;
#else
    const char *env = getenv("FASTGRU_NUM_THREADS");
    if (env != NULL) {
        char *end;
        long n = strtol(env, &end, 10);
        if (end != env && *end == '\0' && n > 0) {
            if (n > 4096) n = 4096;
            snprintf(reason, size, "FASTGRU_NUM_THREADS=%ld", n);
            return (int)n;
        }
    }
    int cpus = affinity_cpus();
    int n = cpus > 0 ? cpus : 1;
    int at = snprintf(reason, size, "affinity mask: %d CPUs", cpus);
    double quota = fg_cgroup_cpu_quota("");
    if (quota > 0) {
        snprintf(reason + at, size - (size_t)at, "; cgroup quota: %.2f CPUs", quota);
        double rounded = ceil(quota);
        if (rounded < n) n = (int)rounded;
    }
    return n;
#endif
}

/* 0 until worked out, 1 while one caller writes them, 2 once written */
static atomic_int threads_state;
static int default_threads;
static char threads_reason[160];

int fg_default_threads(void)
{
    if (atomic_load_explicit(&threads_state, memory_order_acquire) == 2) return default_threads;
    char reason[sizeof threads_reason];
    int n = work_out_threads(reason, sizeof reason), expected = 0;
    if (atomic_compare_exchange_strong(&threads_state, &expected, 1)) {
        default_threads = n;
        memcpy(threads_reason, reason, sizeof reason);
        atomic_store_explicit(&threads_state, 2, memory_order_release);
    }
    return n;
}

const char *fg_default_threads_reason(void)
{
    fg_default_threads();
    while (atomic_load_explicit(&threads_state, memory_order_acquire) != 2) {
    } /* another caller is copying ~160 bytes */
    return threads_reason;
}

/* ---- cancellation ------------------------------------------------------------------------ */

static atomic_int cancel_everything;
static _Thread_local const int *cancel_flag;

void fg_set_cancel_flag(const int *flag) { cancel_flag = flag; }

const int *fg_cancel_flag(void) { return cancel_flag; }

void fg_request_cancel(int on) { cancel_everything = on != 0; }

int fg_cancel_requested(const int *flag)
{
    return atomic_load_explicit(&cancel_everything, memory_order_relaxed) ||
           (flag != NULL && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0);
}

/* ---- memory cap -------------------------------------------------------------------------- */

/* CAP_UNREAD until first use; then the cap (0 = none), or CAP_MALFORMED when FASTGRU_MAX_BYTES
 * holds something else than a size: then every capped size is refused (fail closed). */
#define CAP_UNREAD SIZE_MAX
#define CAP_MALFORMED (SIZE_MAX - 1)
static _Atomic size_t max_bytes = CAP_UNREAD;

/* The documented forms only: digits with an optional K, M or G suffix ("123", "64K", "512M",
 * "2G"); unset or empty means no cap. No signs, spaces, hex, exponents or other suffixes. */
static size_t parse_bytes(const char *s)
{
    if (s == NULL || *s == '\0') return 0;
    if (!isdigit((unsigned char)*s)) return CAP_MALFORMED;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (errno || *end != '\0' || n > (CAP_MALFORMED - 1) >> shift) return CAP_MALFORMED;
    return (size_t)n << shift;
}

void fg_set_max_bytes(size_t bytes) { max_bytes = bytes >= CAP_MALFORMED ? 0 : bytes; }

static size_t stored_cap(void)
{
    size_t cap = max_bytes;
    if (cap == CAP_UNREAD) {
        size_t expected = CAP_UNREAD;
        cap = parse_bytes(getenv("FASTGRU_MAX_BYTES"));
        if (!atomic_compare_exchange_strong(&max_bytes, &expected, cap))
            cap = expected; /* fg_set_max_bytes won the race */
    }
    return cap;
}

size_t fg_max_bytes(void)
{
    size_t cap = stored_cap();
    return cap == CAP_MALFORMED ? 1 : cap;
}

int fg_check_cap(size_t bytes, const char *what)
{
    size_t cap = stored_cap();
    if (cap == CAP_MALFORMED) {
        const char *value = getenv("FASTGRU_MAX_BYTES");
        return fg_fail(FG_ERR_ARG, "FASTGRU_MAX_BYTES='%.40s' is not a size in bytes (digits "
                       "with an optional K, M or G suffix), so the memory cap is unknown; "
                       "refusing %s", value ? value : "", what);
    }
    if (cap && bytes > cap)
        return fg_fail(FG_ERR_NOMEM, "%s needs %zu bytes, over the memory cap of %zu bytes "
                       "(FASTGRU_MAX_BYTES / fg_set_max_bytes)", what, bytes, cap);
    return FG_OK;
}

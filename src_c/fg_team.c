/* fg_team.c - the persistent thread team (fg_team.h).
 *
 * Work is handed over through one word, `job`: a serial number and the team size n. The
 * caller stores fn / arg, then publishes the next serial with n; workers waiting on it spin,
 * yield, and at last sleep on `wake` (counted in `sleepers`, so a caller only takes the mutex
 * when someone sleeps). A worker reads fn / arg only for a job it is a member of (tid < n of
 * the word it read), which cannot end, nor be replaced, before that worker is done. At a
 * barrier each member publishes how many barriers it has reached in its own cache line and
 * waits until every other member's count is as large: one line moves each way between two
 * members, where a shared sense-reversing counter moved its line to and fro for each arrival
 * (2 Zen 4 cores, batch 1, 64 -> 256, 512 steps, medians of interleaved runs: 2.26 -> 2.24
 * ms). Every wait backs off
 * (pause, then sched_yield, then a short sleep) so that more members than free cores do not
 * stall the machine.
 */
#include "fg_team.h"

#ifdef FG_NO_PTHREADS

void fg_team_run(int n, fg_team_fn fn, void *arg)
{
    (void)n;
    fg_team_member me = {0, 1, 0};
    fn(arg, &me);
}

void fg_team_barrier(fg_team_member *me) { (void)me; }

#else

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#ifdef _WIN32 /* mingw-w64: winpthreads has no sysconf, but counts the processors */
#define ONLINE_CPUS() pthread_num_processors_np()
#else
#define ONLINE_CPUS() sysconf(_SC_NPROCESSORS_ONLN)
#endif

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* Pauses before yielding, and yields before sleeping. Measured with fastgru_stream_bench S2
 * (64 -> 256, ~5 us a step on 2 threads) on a shared 2-core VM, median ns per step: 1000 pauses
 * then 1000 yields 67000 (the yields hand the core to other processes), 20000 then 200
 * 1100000, 200000 then 200 5900 (~3 ms of pause before yielding: libgomp spins as long). */
#define SPINS 200000
#define YIELDS 200
/* With more members than CPUs a waiting member's peer is likely descheduled: yield soon. */
#define SPINS_OVERSUBSCRIBED 100

static struct {
    /* what a job hands over, in one cache line: the caller writes it, each worker reads it
     * (a one-step units split on 2 cores, 16 -> 64: ~0.93 -> ~0.88 us a call) */
    _Alignas(64) _Atomic uint64_t job; /* serial << 8 | team size: one store publishes both */
    atomic_int sleepers;      /* workers in (or entering) pthread_cond_wait */
    atomic_int busy;          /* a caller owns the team */
    atomic_int pending;       /* working members yet to finish the job */
    atomic_uint spins;        /* pauses before yielding for this job's team size */
    fg_team_fn fn;
    void *arg;
    _Alignas(64) pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_int started;       /* workers created (grown under lock) */
    atomic_int ready;         /* workers 1 .. ready have all begun running */
    uint64_t born_job;        /* job word before the call a new worker is started in */
} team = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* 1 once worker tid has begun running (it has read born_job). */
static atomic_uchar alive[FG_TEAM_MAX];

/* Barriers each member has reached in the running job, one cache line each (zeroed by the
 * caller before the job is published). */
static struct {
    _Alignas(64) atomic_uint passed;
} reached[FG_TEAM_MAX];

/* One wait iteration; *spins counts the calls so far. */
static void back_off(unsigned *spins)
{
    unsigned s = (*spins)++, pauses = atomic_load_explicit(&team.spins, memory_order_relaxed);
    if (s < pauses) {
        CPU_RELAX();
    } else if (s < pauses + YIELDS) {
        sched_yield();
    } else {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

static void *worker(void *arg)
{
    int tid = (int)(intptr_t)arg;
    uint64_t seen = team.born_job, now; /* written before pthread_create, so visible here */
    atomic_store_explicit(&alive[tid], 1, memory_order_release);
    for (;;) {
        unsigned spins = 0;
        while ((now = atomic_load_explicit(&team.job, memory_order_acquire)) == seen) {
            if (spins < atomic_load_explicit(&team.spins, memory_order_relaxed) + YIELDS) {
                back_off(&spins);
                continue;
            }
            pthread_mutex_lock(&team.lock);
            atomic_fetch_add(&team.sleepers, 1); /* seq_cst: pairs with the job's publication */
            while (atomic_load(&team.job) == seen) pthread_cond_wait(&team.wake, &team.lock);
            atomic_fetch_sub(&team.sleepers, 1);
            pthread_mutex_unlock(&team.lock);
        }
        seen = now;
        int n = (int)(now & 0xff);
        if (tid < n) {
            fg_team_member me = {tid, n, 0};
            team.fn(team.arg, &me);
            atomic_fetch_sub_explicit(&team.pending, 1, memory_order_release);
        }
    }
    return NULL;
}

/* A forked child has none of the parent's workers: it starts its own. */
static void forget_workers(void)
{
    pthread_mutex_init(&team.lock, NULL);
    pthread_cond_init(&team.wake, NULL);
    atomic_store(&team.started, 0);
    atomic_store(&team.ready, 0);
    for (int t = 0; t < FG_TEAM_MAX; t++) atomic_store(&alive[t], 0);
    atomic_store(&team.sleepers, 0);
    atomic_store(&team.busy, 0);
}

static void register_fork_handler(void) { pthread_atfork(NULL, NULL, forget_workers); }

/* Workers 1 .. r all running: r (the busy owner alone calls it). */
static int ready_workers(void)
{
    int r = atomic_load_explicit(&team.ready, memory_order_relaxed);
    while (r + 1 < FG_TEAM_MAX && atomic_load_explicit(&alive[r + 1], memory_order_acquire)) r++;
    atomic_store_explicit(&team.ready, r, memory_order_relaxed);
    return r;
}

/* Starts workers up to member n-1; returns the team size this call may use: 1 + the workers
 * already running. A call never waits for a worker to be scheduled for the first time, which
 * can take a time slice: right after numpy's import its BLAS threads spin on the other core,
 * and 2-4 of 15 fresh processes took 14-30 ms instead of ~0.3 for their first predict of the
 * demo model (none with OPENBLAS_NUM_THREADS=1, nor now). */
static int grow(int n)
{
    int ready = ready_workers();
    if (ready >= n - 1) return n;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handler);
    pthread_mutex_lock(&team.lock);
    team.born_job = atomic_load(&team.job); /* the owner publishes a job only after this */
    while (team.started < n - 1) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&th, &attr, worker, (void *)(intptr_t)(team.started + 1));
        pthread_attr_destroy(&attr);
        if (failed) break;
        atomic_fetch_add(&team.started, 1);
    }
    pthread_mutex_unlock(&team.lock);
    return ready + 1;
}

void fg_team_run(int n, fg_team_fn fn, void *arg)
{
    int expected = 0;
    if (n > FG_TEAM_MAX) n = FG_TEAM_MAX;
    if (n > 1 && atomic_compare_exchange_strong(&team.busy, &expected, 1)) n = grow(n);
    else n = 1, expected = 1; /* busy, or no team wanted: alone */
    if (n <= 1) {
        if (expected == 0) atomic_store(&team.busy, 0);
        fg_team_member me = {0, 1, 0};
        fn(arg, &me);
        return;
    }
    static long cpus;
    if (cpus == 0) cpus = ONLINE_CPUS(); /* a race stores the same value */
    atomic_store_explicit(&team.spins, n > cpus ? SPINS_OVERSUBSCRIBED : SPINS,
                          memory_order_relaxed);
    team.fn = fn;
    team.arg = arg;
    for (int m = 0; m < n; m++) atomic_store_explicit(&reached[m].passed, 0, memory_order_relaxed);
    atomic_store(&team.pending, n - 1);
    uint64_t serial = (atomic_load_explicit(&team.job, memory_order_relaxed) >> 8) + 1;
    /* seq_cst: a worker about to sleep sees it, or is seen */
    atomic_store(&team.job, serial << 8 | (uint64_t)n);
    if (atomic_load(&team.sleepers) > 0) {
        pthread_mutex_lock(&team.lock);
        pthread_cond_broadcast(&team.wake);
        pthread_mutex_unlock(&team.lock);
    }
    fg_team_member me = {0, n, 0};
    fn(arg, &me);
    unsigned spins = 0;
    while (atomic_load_explicit(&team.pending, memory_order_acquire) > 0) back_off(&spins);
    atomic_store(&team.busy, 0);
}

void fg_team_barrier(fg_team_member *me)
{
    if (me->n <= 1) return;
    unsigned now = ++me->passed;
    atomic_store_explicit(&reached[me->tid].passed, now, memory_order_release);
    for (int m = 0; m < me->n; m++) {
        unsigned spins = 0; /* >= now: a member may be one barrier ahead already */
        while (m != me->tid &&
               (int)(atomic_load_explicit(&reached[m].passed, memory_order_acquire) - now) < 0)
            back_off(&spins);
    }
}

#endif

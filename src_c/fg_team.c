/* fg_team.c - the persistent thread team (fg_team.h).
 *
 * A job is handed over through one word, `job`: a serial number and the team size n. Workers
 * waiting on it spin for a while, then sleep on `wake` (counted in `sleepers`, so a caller only
 * takes the mutex when someone sleeps). Each unit has a claim word in its own cache line:
 * the job's serial and the unit's progress, 2P for "phase P free", 2P+1 for "taken", 2P+2 for
 * "done" (= phase P+1 free). A member takes a piece with a compare-and-swap from 2P to 2P+1
 * under the serial it read, so a worker that wakes after its job has ended (the words carry
 * a new serial, or the caller is gone) finds nothing to take and never touches the job's
 * data: the caller waits for pieces, never for members. fn and arg are read only after a
 * piece is taken; the caller writes them before it stamps the words with the new serial.
 * Every wait spins a short while, then backs off (yield, then sleep), so that members never
 * hold a core long that another process, or the member they wait for, could use.
 *
 * A member the OS deschedules in the middle of a piece makes the others wait for that piece
 * (a phase needs all its pieces). When the caller has waited past the spin for one, the core
 * is shared with something else (another process, or a library's spinning threads such as
 * OpenBLAS's after a matmul): at the end of that phase it aborts the job for the workers
 * (each unit's word goes to ABORTED from a state where no piece is running, so a member never
 * passes a phase barrier on it) and does the remaining pieces itself; calls in the next
 * SOLO_NS run on the caller alone, then the team is tried again.
 */
#include "fg_team.h"

#ifdef FG_NO_PTHREADS

int fg_team_run(int n, int phases, int units, fg_team_fn fn, void *arg)
{
    (void)n;
    int stop = 0;
    for (int p = 0; p < phases; p++)
        for (int q = 0; q < units; q++)
            if (!stop) stop = fn(arg, p, q);
    return stop;
}

void fg_team_set_stall(int us) { (void)us; }

void fg_team_set_stall_in_piece(int us)
{
    (void)us;
}

#else

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long a wait spins before it yields, then sleeps. A worker between jobs keeps spinning
 * through the gap between the one-step calls of a stream (a few us); past that it sleeps, and
 * a caller does not wait for it to wake (it takes the pieces itself). In a job, a member waits
 * only for pieces another member has begun (~1-10 us each). */
#ifndef SPIN_NS /* -DSPIN_NS=... to measure another */
#define SPIN_NS 50000
#endif
#define YIELD_NS 200000
#define SLEEP_NS 50000
/* After a wait for a descheduled member, calls run alone for SOLO_NS, twice as long after
 * each job that found the core still shared, up to SOLO_MAX_NS. */
#define SOLO_NS 20000000
#define SOLO_MAX_NS 160000000

static struct {
    _Alignas(64) _Atomic uint64_t job; /* serial << 8 | team size: one store publishes both */
    atomic_int sleepers;               /* workers in (or entering) pthread_cond_wait */
    atomic_int busy;                   /* a caller owns the team */
    atomic_int phases, units;          /* of the job: read before a claim, checked by it */
    atomic_int stop;                   /* a piece of this job stopped it */
    atomic_int stall_us;               /* fg_team_set_stall */
    /* fg_team_set_stall_in_piece; now_ns() before which calls run alone, and the next such
     * stretch (0: SOLO_NS) */
    atomic_int stall_in_piece_us;
    _Atomic uint64_t solo_until, solo_ns;
    fg_team_fn fn;
    void *arg;
    _Alignas(64) pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_int started; /* workers created (grown under lock) */
} team = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* serial << 32 | progress (see the top of the file), one line each */
static struct {
    _Alignas(64) _Atomic uint64_t word;
} claim[FG_TEAM_UNITS_MAX];

void fg_team_set_stall(int us) { atomic_store(&team.stall_us, us > 0 ? us : 0); }

void fg_team_set_stall_in_piece(int us)
{
    atomic_store(&team.stall_in_piece_us, us > 0 ? us : 0);
}

static void sleep_us(int us)
{
    struct timespec ts = {us / 1000000, us % 1000000 * 1000L};
    nanosleep(&ts, NULL);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One wait iteration: pause for SPIN_NS from the first call, then yield, then sleep. */
typedef struct waiting {
    unsigned calls;
    int outlasted; /* the wait went on past the spin */
    uint64_t since;
} waiting;

static void back_off(waiting *w)
{
    if ((w->calls++ & 63) != 0) { /* the clock is read every 64 calls */
        CPU_RELAX();
        return;
    }
    uint64_t t = now_ns();
    if (w->calls == 1) w->since = t;
    if (t - w->since < SPIN_NS) {
        CPU_RELAX();
        return;
    }
    w->outlasted = 1;
    if (t - w->since < SPIN_NS + YIELD_NS) {
        sched_yield();
    } else {
        struct timespec ts = {0, SLEEP_NS};
        nanosleep(&ts, NULL);
    }
}

static uint32_t progress_of(uint64_t word) { return (uint32_t)word; }

#define CLOSED 0xffffffffu  /* progress of a unit whose last phase is done */
#define ABORTED 0xfffffffeu /* the caller took the rest of the job: members leave it */

/* The caller's end of a job that waited for a descheduled member: each unit's word goes from a
 * state where no piece of it runs (2P: its phases before P are done) to ABORTED, waiting out a
 * piece that runs; then the caller does every remaining piece, phase by phase. */
static void finish_alone(uint64_t tag, int phases, int units)
{
    uint32_t resume[FG_TEAM_UNITS_MAX], first = CLOSED;
    for (int q = 0; q < units; q++) {
        waiting wt = {0, 0, 0};
        uint64_t seen = atomic_load_explicit(&claim[q].word, memory_order_acquire);
        while (progress_of(seen) != CLOSED &&
               ((progress_of(seen) & 1) || !atomic_compare_exchange_weak_explicit(
                                               &claim[q].word, &seen, tag | ABORTED,
                                               memory_order_acquire, memory_order_acquire))) {
            if (progress_of(seen) & 1) back_off(&wt); /* a piece of it runs */
            seen = atomic_load_explicit(&claim[q].word, memory_order_acquire);
        }
        resume[q] = progress_of(seen) == CLOSED ? (uint32_t)phases : progress_of(seen) / 2;
        if (resume[q] < first) first = resume[q];
    }
    int stop = atomic_load_explicit(&team.stop, memory_order_relaxed);
    for (uint32_t p = first; p < (uint32_t)phases && !stop; p++)
        for (int q = 0; q < units && !stop; q++)
            if (p >= resume[q]) stop = team.fn(team.arg, (int)p, q);
    if (stop) atomic_store_explicit(&team.stop, 1, memory_order_relaxed);
}

/* Member tid's part of job `serial` of n members; returns when the job is over (the caller:
 * when every piece is done; a worker: also when the job has ended without it, or was aborted),
 * 1 when the caller found a member descheduled in a piece. */
static int take_part(uint32_t serial, int tid, int n)
{
    int phases = atomic_load_explicit(&team.phases, memory_order_relaxed);
    int units = atomic_load_explicit(&team.units, memory_order_relaxed);
    if (units < 1 || units > FG_TEAM_UNITS_MAX) return 0; /* a later job's: ours is over */
    int own0 = units * tid / n, own1 = units * (tid + 1) / n;
    uint64_t tag = (uint64_t)serial << 32, start = tid == 0 ? now_ns() : 0;
    for (uint32_t p = 0; p < (uint32_t)phases; p++) {
        int stall = atomic_load_explicit(&team.stall_us, memory_order_relaxed);
        if (stall > 0 && tid == 1) sleep_us(stall);
        /* own units upward, then the others from the far end down */
        for (int i = 0, mine = own1 - own0; i < units; i++) {
            int k = i - mine, q = k < 0 ? own0 + i : k < units - own1 ? units - 1 - k
                                                                       : units - 1 - k - mine;
            _Atomic uint64_t *w = &claim[q].word;
            uint64_t free = tag | (2 * p), seen = atomic_load_explicit(w, memory_order_relaxed);
            if (seen != free ||
                !atomic_compare_exchange_strong_explicit(w, &seen, free + 1, memory_order_acquire,
                                                         memory_order_relaxed))
                continue;
            stall = atomic_load_explicit(&team.stall_in_piece_us, memory_order_relaxed);
            if (stall > 0 && tid == 1) sleep_us(stall);
            if (!atomic_load_explicit(&team.stop, memory_order_relaxed) &&
                team.fn(team.arg, (int)p, q))
                atomic_store_explicit(&team.stop, 1, memory_order_relaxed);
            /* a unit's last piece closes it: no stale worker, whatever phase count it read,
             * can take it again */
            atomic_store_explicit(w, p + 1 == (uint32_t)phases ? tag | CLOSED : free + 2,
                                  memory_order_release);
        }
        /* the phase is over when every unit is done (or, for a worker, the job is) */
        int descheduled = 0;
        for (int q = 0; q < units; q++) {
            waiting wt = {0, 0, 0};
            uint64_t seen;
            while ((seen = atomic_load_explicit(&claim[q].word, memory_order_acquire)) >> 32 ==
                       serial &&
                   progress_of(seen) < 2 * p + 2)
                back_off(&wt);
            if (seen >> 32 != serial || progress_of(seen) == ABORTED) return 0;
            /* the caller waited past the spin, and 4x longer than its phases have taken on
             * average (phase 0 often runs long pieces: an input projection) */
            if (tid == 0 && wt.outlasted)
                descheduled |= now_ns() - wt.since > 4 * ((wt.since - start) / (p + 1));
        }
        if (descheduled) {
            uint64_t solo = atomic_load_explicit(&team.solo_ns, memory_order_relaxed);
            solo = solo ? solo : SOLO_NS;
            atomic_store_explicit(&team.solo_until, now_ns() + solo, memory_order_relaxed);
            atomic_store_explicit(&team.solo_ns, solo < SOLO_MAX_NS ? 2 * solo : SOLO_MAX_NS,
                                  memory_order_relaxed);
            if (p + 1 < (uint32_t)phases) finish_alone(tag, phases, units);
            return 1;
        }
    }
    return 0;
}

static void *worker(void *arg)
{
    int tid = (int)(intptr_t)arg;
    uint64_t seen = 0, now;
    for (;;) {
        waiting wt = {0, 0, 0};
        while ((now = atomic_load_explicit(&team.job, memory_order_acquire)) == seen) {
            if (wt.calls < 64 || now_ns() - wt.since < SPIN_NS) {
                back_off(&wt);
                continue;
            }
            pthread_mutex_lock(&team.lock);
            atomic_fetch_add(&team.sleepers, 1); /* seq_cst: pairs with the job's publication */
            while (atomic_load(&team.job) == seen) pthread_cond_wait(&team.wake, &team.lock);
            atomic_fetch_sub(&team.sleepers, 1);
            pthread_mutex_unlock(&team.lock);
        }
        seen = now;
        if (tid < (int)(now & 0xff)) take_part((uint32_t)(now >> 8), tid, (int)(now & 0xff));
    }
    return NULL;
}

/* A forked child has none of the parent's workers: it starts its own. */
static void forget_workers(void)
{
    pthread_mutex_init(&team.lock, NULL);
    pthread_cond_init(&team.wake, NULL);
    atomic_store(&team.started, 0);
    atomic_store(&team.sleepers, 0);
    atomic_store(&team.busy, 0);
}

static void register_fork_handler(void) { pthread_atfork(NULL, NULL, forget_workers); }

/* Starts workers up to member n-1; returns the team size: 1 + the workers started (running
 * or not: a call never waits for one). Only the busy owner calls it. */
static int grow(int n)
{
    int started = atomic_load_explicit(&team.started, memory_order_relaxed);
    if (started >= n - 1) return n;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handler);
    pthread_mutex_lock(&team.lock);
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
    started = team.started;
    pthread_mutex_unlock(&team.lock);
    return started + 1 < n ? started + 1 : n;
}

/* Every piece by the caller, in order. */
static int run_alone(int phases, int units, fg_team_fn fn, void *arg)
{
    for (int p = 0; p < phases; p++)
        for (int q = 0; q < units; q++)
            if (fn(arg, p, q)) return 1;
    return 0;
}

int fg_team_run(int n, int phases, int units, fg_team_fn fn, void *arg)
{
    int expected = 0;
    if (n > FG_TEAM_MAX) n = FG_TEAM_MAX;
    if (n > units) n = units;
    if (n <= 1 || units > FG_TEAM_UNITS_MAX || phases <= 0 || phases > (1 << 30) ||
        !atomic_compare_exchange_strong(&team.busy, &expected, 1))
        return run_alone(phases, units, fn, arg);
    uint64_t solo = atomic_load_explicit(&team.solo_until, memory_order_relaxed);
    if (solo && now_ns() < solo) { /* a member was descheduled lately: the core is shared */
        atomic_store(&team.busy, 0);
        return run_alone(phases, units, fn, arg);
    }
    if ((n = grow(n)) <= 1) {
        atomic_store(&team.busy, 0);
        return run_alone(phases, units, fn, arg);
    }
    team.fn = fn;
    team.arg = arg;
    atomic_store_explicit(&team.phases, phases, memory_order_relaxed);
    atomic_store_explicit(&team.units, units, memory_order_relaxed);
    atomic_store_explicit(&team.stop, 0, memory_order_relaxed);
    uint64_t serial = (atomic_load_explicit(&team.job, memory_order_relaxed) >> 8) + 1;
    for (int q = 0; q < units; q++) /* release: a member that takes a piece sees fn, arg */
        atomic_store_explicit(&claim[q].word, (serial & 0xffffffffu) << 32, memory_order_release);
    /* seq_cst: a worker about to sleep sees it, or is seen */
    atomic_store(&team.job, serial << 8 | (uint64_t)n);
    if (atomic_load(&team.sleepers) > 0) {
        pthread_mutex_lock(&team.lock);
        pthread_cond_broadcast(&team.wake);
        pthread_mutex_unlock(&team.lock);
    }
    if (!take_part((uint32_t)serial, 0, n) &&
        atomic_load_explicit(&team.solo_ns, memory_order_relaxed))
        atomic_store_explicit(&team.solo_ns, 0, memory_order_relaxed); /* the core is ours */
    int stopped = atomic_load_explicit(&team.stop, memory_order_relaxed);
    atomic_store(&team.busy, 0);
    return stopped;
}

#endif

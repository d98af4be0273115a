/* fg_team.h - a small persistent thread team for work split inside one short call (the GRU's
 * units split at batch 1), where an OpenMP region's ~1 us entry and its barrier would cost as
 * much as a whole streaming step.
 *
 * The calling thread is member 0; workers are started on first use (a call runs with the
 * workers already running, never waiting for a new one to be scheduled) and then wait for
 * work spinning briefly (pause, then yield), then sleeping on a condition variable. One caller
 * uses the team at a time: a second caller gets a team of one (itself), so results must not
 * depend on the team size. Built with FG_NO_PTHREADS, every team has one member.
 */
#ifndef FG_TEAM_H
#define FG_TEAM_H

#define FG_TEAM_MAX 64 /* members at most */

typedef struct fg_team_member {
    int tid, n;        /* this member's index and the team size */
    unsigned passed;   /* barriers this member has reached in this job */
} fg_team_member;

typedef void (*fg_team_fn)(void *arg, fg_team_member *me);

/* Runs fn(arg, member) on up to n members (fewer when the team is busy or threads cannot be
 * started) and returns when all have returned. */
void fg_team_run(int n, fg_team_fn fn, void *arg);

/* Waits until every member of the running team has called it (spin, then back off). */
void fg_team_barrier(fg_team_member *me);

#endif

/* fg_team.h - a small persistent thread team that shares out the work of one short call (the
 * GRU's units split at batch 1, its batch split), where an OpenMP region's ~1 us entry and its
 * barrier would cost as much as a whole streaming step, and where a barrier would wait for a
 * thread the OS has descheduled.
 *
 * A job is `phases` x `units` pieces: every piece of a phase is done before any piece of the
 * next begins (the GRU: a phase per time step, a unit per run of 16-unit blocks). Pieces are
 * claimed, not assigned: member m first takes its own units (the m-th of n contiguous shares,
 * the same in every phase, so its slice of the weights stays in its cache), then any piece
 * nobody has begun. So a descheduled worker's share is done by whoever runs, and the job ends
 * when its pieces are done, without waiting for a worker that has not begun one. A worker
 * descheduled inside a piece holds up that phase once: the caller then ends the job for the
 * workers, does the rest itself, and runs alone for a while (fg_team.c). The calling
 * thread is member 0. One caller uses the team at a time: a second caller does every piece
 * itself, so results must not depend on who does a piece. Built with FG_NO_PTHREADS, the
 * caller always does every piece.
 */
#ifndef FG_TEAM_H
#define FG_TEAM_H

#define FG_TEAM_MAX 64        /* members at most */
#define FG_TEAM_UNITS_MAX 256 /* units of a job at most */

/* Does piece (phase, unit); nonzero stops the job (a cancel): pieces not begun are skipped. */
typedef int (*fg_team_fn)(void *arg, int phase, int unit);

/* Runs every piece once on up to n members (phases < 2^31, 1 <= units <= FG_TEAM_UNITS_MAX);
 * returns nonzero when a piece stopped the job. */
int fg_team_run(int n, int phases, int units, fg_team_fn fn, void *arg);

/* Test hook: worker 1 sleeps `us` microseconds before each phase it works in, as a worker the
 * OS has descheduled would (0, the default, turns it off). */
void fg_team_set_stall(int us);

/* Test hook: worker 1 sleeps `us` microseconds inside each piece it takes, as a worker the OS
 * deschedules in the middle of a piece would (0 turns it off). */
void fg_team_set_stall_in_piece(int us);

#endif

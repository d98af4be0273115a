/* fg_internal.h - library-internal services that are not the kernels' business: the cancel
 * check a run polls (fg_common.c). The memory cap check, fg_check_cap, is public
 * (fg_common.h). */
#ifndef FG_INTERNAL_H
#define FG_INTERNAL_H

/* The calling thread's cancel flag (fg_set_cancel_flag), NULL when none. */
const int *fg_cancel_flag(void);
/* 1 when a run holding cancel flag `flag` (may be NULL) is to stop: *flag is set, or
 * fg_request_cancel(1) is in force. */
int fg_cancel_requested(const int *flag);

#endif

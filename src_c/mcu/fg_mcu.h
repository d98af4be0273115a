/* fg_mcu.h - what a bare-metal (microcontroller) build of the library adds to fastgru.h.
 *
 * Built with `make -C src_c mcu` there is no heap: the blocks the loader and fg_state_create
 * take (the model's tables, a state) come from a static pool the firmware hands over first;
 * the weights stay in the const image (flash), and fg_model_run / fg_model_step run in a
 * caller workspace, so nothing is allocated while running. The C API reports every byte:
 * a pool of fg_model_memory_bytes(model) plus fg_state_bytes(model, batch) per state holds
 * them (fastgru.h), the workspace is fg_model_workspace_bytes; beyond these the library has
 * only its own statics. Errors keep their status codes; fg_last_error() gives the message's
 * format text (no printf machinery is linked).
 */
#ifndef FG_MCU_H
#define FG_MCU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hand the library `bytes` of memory at `pool` for its models and states. Blocks take whole
 * 64-byte lines from a 64-byte boundary: give a 64-byte aligned pool (the bytes before the
 * first boundary go unused). Handing over a pool again starts it empty: every model and state
 * made from the old one is gone. */
void fg_mcu_pool(void *pool, size_t bytes);
/* Bytes of the pool in use now, and the most ever in use since it was handed over. */
size_t fg_mcu_pool_used(void);
size_t fg_mcu_pool_peak(void);

#ifdef __cplusplus
}
#endif
#endif

/* fastgru.h - the one header a C program includes to run fastgru models.
 *
 * Build the library with `make -C src_c` (libfastgru.a / libfastgru.so in src_c/build/),
 * then `cc -Isrc_c prog.c src_c/build/libfastgru.a -lm [-fopenmp]`.
 *
 * Everything public starts with fg_ / FG_. Every call that can fail returns an fg_status
 * (FG_OK == 0); fg_last_error() gives the failing call's message on the same thread.
 *
 *   fg_common.h      status codes, fg_last_error, ISA capping (fg_set_isa_cap), threads
 *   fg_model.h       a whole model: fg_model_load (zero-copy buffer) / fg_model_load_file,
 *                    fg_model_workspace_bytes + fg_model_run (caller workspace, no allocation
 *                    while running), fg_state_* + fg_model_step for streaming
 *   fg_gru.h         one recurrent layer (GRU, LSTM or SimpleRNN: fg_gru_config.cell) from
 *                    Keras weights: fg_gru_pack + fg_gru_forward
 *   fg_activations.h activation ids (Keras names) used by fg_gru_config
 *
 * A loaded fg_model is immutable and may be shared by threads; per-stream state lives in an
 * fg_state, scratch memory in a caller workspace (one per concurrent call).
 * See examples/c/ for complete programs and docs/FORMAT.md for the .fgru model image.
 */
#ifndef FASTGRU_H
#define FASTGRU_H

#define FASTGRU_VERSION_MAJOR 0
#define FASTGRU_VERSION_MINOR 1
#define FASTGRU_VERSION_PATCH 0
#define FASTGRU_VERSION "0.1.0" /* equals fastgru.__version__ */

#include "fg_common.h"
#include "fg_activations.h"
#include "fg_gru.h"
#include "fg_model.h"

#endif

/* fg_mcu_prelude.h - included ahead of every library source in the bare-metal build
 * (`make -C src_c mcu`, -include), so the shared sources need no #ifdefs for it:
 *  - one thread: thread-local statics are plain statics (a bare-metal toolchain has no
 *    thread pointer to put them behind);
 *  - no heap: malloc and friends take from the pool of fg_mcu_pool.c (fg_mcu.h);
 *  - no OS: no environment, so the FASTGRU_* variables read as unset, and no files, so
 *    fg_model_load_file fails with FG_ERR_IO (the model comes from a buffer in flash);
 *  - no stdio: error messages keep their format text, unformatted (newlib's printf core
 *    alone is ~15 KB and allocates); built with FG_MCU_NO_MESSAGES (`make mcu
 *    MCU_MESSAGES=0`) every message is one fixed text, saving their ~7 KB of flash
 *    (fg_common.c, which defines fg_fail, is built without it).
 * The standard headers come first, so these names are only replaced where the library
 * calls them, never in their declarations. */
#ifndef FG_MCU_PRELUDE_H
#define FG_MCU_PRELUDE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_mcu.h"

/* the few places where a bare-metal build needs code of its own test this (model_image.c) */
#define FG_MCU 1

void *fg_mcu_alloc(size_t align, size_t bytes);
void *fg_mcu_calloc(size_t count, size_t size);
void fg_mcu_free(void *p);
int fg_mcu_message(char *buf, size_t size, const char *fmt);

#define _Thread_local
#define malloc(bytes) fg_mcu_alloc(8, (bytes))
#define aligned_alloc(align, bytes) fg_mcu_alloc((align), (bytes))
#define calloc(count, size) fg_mcu_calloc((count), (size))
#define free(p) fg_mcu_free(p)
#define getenv(name) ((void)(name), (char *)NULL)
#define fopen(path, mode) ((void)(path), (void)(mode), (FILE *)NULL)
#define vsnprintf(buf, size, fmt, ap) ((void)(ap), fg_mcu_message((buf), (size), (fmt)))

#ifdef FG_MCU_NO_MESSAGES
#include "fg_common.h"
/* a macro does not expand inside its own expansion: this calls the function */
#define fg_fail(code, ...) fg_fail((code), "fastgru error (messages not built: MCU_MESSAGES=0)")
#endif

#endif

/* fg_mcu_pool.c - the bare-metal build's allocator (fg_mcu.h, fg_mcu_prelude.h): a bump
 * pointer in the firmware's static pool. Every block starts on a 64-byte line and takes whole
 * lines, the unit fg_model_memory_bytes and fg_state_bytes count in, so a pool of exactly
 * their sum holds the model and its states wherever the pool lies. Freeing the newest block
 * gives its lines back; any other free keeps them until the pool is handed over again. */
#include <stdint.h>
#include <string.h>

#include "fg_mcu.h"

#define LINE 64

static uint8_t *pool_start, *pool_end, *pool_top, *newest;
static size_t pool_peak;

void fg_mcu_pool(void *pool, size_t bytes)
{
    uintptr_t start = ((uintptr_t)pool + LINE - 1) & ~(uintptr_t)(LINE - 1);
    size_t skipped = (size_t)(start - (uintptr_t)pool);
    pool_start = pool_top = (uint8_t *)start;
    pool_end = pool_start + (bytes > skipped ? bytes - skipped : 0);
    newest = NULL;
    pool_peak = 0;
}

size_t fg_mcu_pool_used(void) { return (size_t)(pool_top - pool_start); }

size_t fg_mcu_pool_peak(void) { return pool_peak; }

/* (the top always stands on a line, so every block is LINE-aligned, any align up to 64) */
void *fg_mcu_alloc(size_t align, size_t bytes)
{
    if (pool_start == NULL || align == 0 || align > LINE || (align & (align - 1)) != 0 ||
        bytes > (size_t)(pool_end - pool_top) - ((size_t)(pool_end - pool_top) % LINE))
        return NULL;
    newest = pool_top;
    pool_top += (bytes + LINE - 1) / LINE * LINE;
    if (fg_mcu_pool_used() > pool_peak) pool_peak = fg_mcu_pool_used();
    return newest;
}

void *fg_mcu_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) return NULL;
    void *p = fg_mcu_alloc(8, count * size);
    if (p != NULL) memset(p, 0, count * size);
    return p;
}

void fg_mcu_free(void *p)
{
    if (p != NULL && p == newest) {
        pool_top = newest;
        newest = NULL;
    }
}

/* vsnprintf's stand-in: the format text itself, cut to fit. */
int fg_mcu_message(char *buf, size_t size, const char *fmt)
{
    size_t n = strlen(fmt);
    if (size == 0) return (int)n;
    size_t kept = n < size - 1 ? n : size - 1;
    memcpy(buf, fmt, kept);
    buf[kept] = '\0';
    return (int)n;
}

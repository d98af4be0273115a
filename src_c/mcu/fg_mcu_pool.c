/* fg_mcu_pool.c - the bare-metal build's allocator (fg_mcu.h, fg_mcu_prelude.h): a bump
 * pointer in the firmware's static pool. Freeing the newest block gives its bytes back (a
 * scratch block taken and freed in one call, e.g. planning a workspace, so costs nothing);
 * any other free keeps them until the pool is handed over again. */
#include <stdint.h>
#include <string.h>

#include "fg_mcu.h"

/* newest: the last block handed out; newest_from: the top before it (its alignment padding
 * included), where freeing it returns the top to */
static uint8_t *pool_start, *pool_end, *pool_top, *newest, *newest_from;
static size_t pool_peak;

void fg_mcu_pool(void *pool, size_t bytes)
{
    pool_start = pool_top = pool;
    pool_end = pool_start + bytes;
    newest = NULL;
    pool_peak = 0;
}

size_t fg_mcu_pool_used(void) { return (size_t)(pool_top - pool_start); }

size_t fg_mcu_pool_peak(void) { return pool_peak; }

void *fg_mcu_alloc(size_t align, size_t bytes)
{
    if (pool_start == NULL || align == 0 || (align & (align - 1)) != 0) return NULL;
    uintptr_t at = ((uintptr_t)pool_top + align - 1) & ~(uintptr_t)(align - 1);
    if (at < (uintptr_t)pool_top || at > (uintptr_t)pool_end ||
        bytes > (size_t)((uintptr_t)pool_end - at))
        return NULL;
    newest_from = pool_top;
    newest = (uint8_t *)at;
    pool_top = newest + bytes;
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
        pool_top = newest_from;
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

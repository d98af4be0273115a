/* fg_alloc.h - 64-byte aligned blocks for weights and workspaces, on every platform.
 *
 * The Windows C runtimes (MSVC's, mingw-w64's) have no C11 aligned_alloc: their aligned blocks
 * come from _aligned_malloc and must go back through _aligned_free, never free. Every block
 * from fg_aligned_alloc is released with fg_aligned_free. `bytes` is a multiple of `align`.
 */
#ifndef FG_ALLOC_H
#define FG_ALLOC_H

#include <stdlib.h>

#ifdef _WIN32
#include <malloc.h>
static inline void *fg_aligned_alloc(size_t align, size_t bytes)
{
    return _aligned_malloc(bytes, align);
}
static inline void fg_aligned_free(void *p) { _aligned_free(p); }
#else
static inline void *fg_aligned_alloc(size_t align, size_t bytes)
{
    return aligned_alloc(align, bytes);
}
static inline void fg_aligned_free(void *p) { free(p); }
#endif

#endif

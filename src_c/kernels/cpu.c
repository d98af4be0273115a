/* cpu.c - what this CPU supports, and the kernel table for an ISA. */
#include "fg_kernels.h"

#include <stdatomic.h>

#include "../fg_common.h"

unsigned fg_cpu_isa_flags(void)
{
    static atomic_uint flags; /* cpuid is read once; a race stores the same value twice */
    if (flags == 0) {
        unsigned f = FG_ISA_SCALAR;
#if defined(__x86_64__) || defined(__i386__)
        /* libgcc's cpuinfo also checks that the OS saves the AVX / AVX-512 register state */
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f |= FG_ISA_AVX2;
        if ((f & FG_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vl"))
            f |= FG_ISA_AVX512;
#elif defined(__aarch64__)
        f |= FG_ISA_NEON; /* Advanced SIMD is mandatory on aarch64 */
#endif
        flags = f;
    }
    return flags;
}

const fg_kernels *fg_kernels_for(int isa)
{
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case FG_ISA_AVX512: return &fg_kernels_avx512;
    case FG_ISA_AVX2: return &fg_kernels_avx2;
#endif
#if defined(__aarch64__)
    case FG_ISA_NEON: return &fg_kernels_neon;
#endif
    default: return &fg_kernels_scalar;
    }
}

/* cpu.c - what this CPU supports, and the kernel table for an ISA. */
#include "fg_kernels.h"
#include "gru_bf16.h"

#include <stdatomic.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

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
        /* AVX512_BF16: CPUID.(EAX=7, ECX=1):EAX bit 5 (its zmm state is AVX-512's, checked) */
        unsigned a, b, c, d;
        if ((f & FG_ISA_AVX512) && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5)))
            f |= FG_ISA_AVX512BF16;
#elif defined(__aarch64__)
        f |= FG_ISA_NEON; /* Advanced SIMD is mandatory on aarch64 */
#elif defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)
        f |= FG_ISA_MVE; /* built for a core with Helium (make mcu MCU=cortex-m55) */
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
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)
    case FG_ISA_MVE:
        return &fg_kernels_mve;
#endif
    default: return &fg_kernels_scalar;
    }
}

const fg_kernels *fg_kernels_bf16(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (fg_isa_bf16_native()) return &fg_kernels_bf16_avx512;
#endif
    return &fg_kernels_bf16_portable;
}

/* arm_q_vocab.h - the part of gru_template.h's vector vocabulary that aarch64 Advanced SIMD
 * (gru_neon.c) and Arm Helium (mve_vocab.h) spell alike: one float32x4_t q register per 4
 * floats, through the ACLE intrinsics both headers declare. The includer includes arm_neon.h
 * or arm_mve.h first and defines what differs: MR, V_DIV, V_MAX, V_MIN. */
#define V float32x4_t
#define VL 4
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32((p), (v))
#define V_SET1(x) vdupq_n_f32(x)
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_ADD vaddq_f32
#define V_SUB vsubq_f32
#define V_MUL vmulq_f32
#define V_FMA(a, b, c) vfmaq_f32((c), (a), (b))
#define V_SIGNMASK vreinterpretq_f32_u32(vdupq_n_u32(0x80000000u))
#define V_AND(a, b)                                                                                \
    vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)))
#define V_OR(a, b)                                                                                 \
    vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)))
#define V_ABS vabsq_f32
#define V_ROUND vrndnq_f32
#define V_POW2(n)                                                                                  \
    vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23))

/* avx512_vocab.h - gru_template.h's vector vocabulary for AVX-512 (one zmm per 16-unit gate
 * block, tiles of 8 batch rows x 3 gates = 24 accumulators). Shared by gru_avx512.c and
 * gru_bf16_avx512.c, which include it inside their target("avx512...") region. */
#define V __m512
#define VL 16
#define MR 8
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_ZERO() _mm512_setzero_ps()
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_FMA _mm512_fmadd_ps
#define V_MAX _mm512_max_ps
#define V_MIN _mm512_min_ps
#define V_AND _mm512_and_ps
#define V_OR _mm512_or_ps
#define V_SIGNMASK _mm512_set1_ps(-0.0f)
#define V_ABS(x) _mm512_andnot_ps(V_SIGNMASK, (x))
#define V_ROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_POW2(n) _mm512_castsi512_ps(_mm512_slli_epi32( \
    _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))


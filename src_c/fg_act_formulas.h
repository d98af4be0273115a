/* fg_act_formulas.h - the scalar formula of every elementwise activation: one switch, shared
 * by the C library (fg_activations.c) and the CUDA kernels (fastgru/gpu/kernels.py puts this
 * file into their source). No includes: the includer provides expf and friends and the FG_ACT_*
 * ids (fg_activations.h, or an enum made from fastgru/registry.py), and may define FG_ACT_FN
 * (a CUDA build: __device__) and FG_ACT_CASE (fg_config_select.h: a small build drops the
 * activations it leaves out). Scalar forms keep NaN (NaN in, NaN out) and never overflow to NaN
 * for large inputs. */
#ifndef FG_ACT_FORMULAS_H
#define FG_ACT_FORMULAS_H

#ifndef FG_ACT_FN
#define FG_ACT_FN static inline
#endif
#ifndef FG_ACT_CASE
#define FG_ACT_CASE(id) case id:
#endif

/* clip keeping NaN (jnp.clip / minimum / maximum propagate NaN) */
FG_ACT_FN float fg_clipf(float x, float lo, float hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

FG_ACT_FN float fg_softplusf(float x) /* jnp.logaddexp(x, 0) */
{
    if (x != x) return x;
    return (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}

FG_ACT_FN float fg_sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

FG_ACT_FN float fg_hard_sigmoidf(float x)
{
    return fg_clipf(x + 3.0f, 0.0f, 6.0f) / 6.0f;
}

/* Activation `act` of x; the row-wise ids (softmax, log_softmax, sparsemax) return x. */
FG_ACT_FN float fg_act_formula(int act, float x)
{
    switch (act) {
        FG_ACT_CASE(FG_ACT_LINEAR) return x;
        FG_ACT_CASE(FG_ACT_TANH) return tanhf(x);
        FG_ACT_CASE(FG_ACT_SIGMOID) return fg_sigmoidf(x);
        FG_ACT_CASE(FG_ACT_HARD_SIGMOID) return fg_hard_sigmoidf(x);
        FG_ACT_CASE(FG_ACT_HARD_SIGMOID_K2) return fg_clipf(x * 0.2f + 0.5f, 0.0f, 1.0f);
        FG_ACT_CASE(FG_ACT_RELU) return x < 0.0f ? 0.0f : x;
        FG_ACT_CASE(FG_ACT_RELU6) return fg_clipf(x, 0.0f, 6.0f);
        FG_ACT_CASE(FG_ACT_ELU) return x > 0.0f ? x : expm1f(x);
        FG_ACT_CASE(FG_ACT_SELU)
        {
            const float alpha = 1.6732632423543772848170429916717f;
            const float scale = 1.0507009873554804934193349852946f;
            return scale * (x > 0.0f ? x : alpha * expm1f(x));
        }
        FG_ACT_CASE(FG_ACT_SOFTPLUS) return fg_softplusf(x);
        FG_ACT_CASE(FG_ACT_SOFTSIGN) return x / (fabsf(x) + 1.0f);
        FG_ACT_CASE(FG_ACT_EXPONENTIAL) return expf(x);
        FG_ACT_CASE(FG_ACT_SWISH) return x * fg_sigmoidf(x);
        FG_ACT_CASE(FG_ACT_GELU) return 0.5f * x * erfcf(-x * 0.70710678118654752440f);
        FG_ACT_CASE(FG_ACT_LEAKY_RELU) return x < 0.0f ? 0.2f * x : x;
        FG_ACT_CASE(FG_ACT_MISH) return x * tanhf(fg_softplusf(x));
        FG_ACT_CASE(FG_ACT_CELU)
        return x != x ? x : (x > 0.0f ? x : 0.0f) + expm1f(x < 0.0f ? x : 0.0f);
        FG_ACT_CASE(FG_ACT_HARD_SHRINK) return fabsf(x) > 0.5f ? x : (x != x ? x : 0.0f);
        FG_ACT_CASE(FG_ACT_HARD_TANH) return fg_clipf(x, -1.0f, 1.0f);
        FG_ACT_CASE(FG_ACT_SOFT_SHRINK)
        return x > 0.5f ? x - 0.5f : (x < -0.5f ? x + 0.5f : (x != x ? x : 0.0f));
        FG_ACT_CASE(FG_ACT_SPARSE_PLUS)
        return x <= -1.0f ? 0.0f : (x >= 1.0f ? x : (x + 1.0f) * (x + 1.0f) / 4.0f);
        FG_ACT_CASE(FG_ACT_SPARSE_SIGMOID) return 0.5f * fg_clipf(x + 1.0f, 0.0f, 2.0f);
        FG_ACT_CASE(FG_ACT_SQUAREPLUS) return (x + sqrtf(x * x + 4.0f)) / 2.0f;
        FG_ACT_CASE(FG_ACT_TANH_SHRINK) return x - tanhf(x);
        FG_ACT_CASE(FG_ACT_LOG_SIGMOID) return -fg_softplusf(-x);
        FG_ACT_CASE(FG_ACT_HARD_SILU) return x * fg_hard_sigmoidf(x);
    default:
        break;
    }
    return x;
}

#endif

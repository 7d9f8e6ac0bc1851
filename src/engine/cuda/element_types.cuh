// Device-side helpers shared by the kernels: float conversion of the three element types, 16-byte
// packs for vectorised loads, warp reductions, and dispatch from Precision to a C++ type.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "engine/cuda/cuda_precision.h"

namespace justnews::cuda {

__device__ __forceinline__ float to_float(float value) { return value; }
__device__ __forceinline__ float to_float(__half value) { return __half2float(value); }
__device__ __forceinline__ float to_float(__nv_bfloat16 value) { return __bfloat162float(value); }

template <typename T> __device__ __forceinline__ T from_float(float value);
template <> __device__ __forceinline__ float from_float<float>(float value) { return value; }
template <> __device__ __forceinline__ __half from_float<__half>(float value) {
  return __float2half_rn(value);
}
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float value) {
  return __float2bfloat16_rn(value);
}

// 16 bytes of T: the widest single load or store a thread can issue.
template <typename T>
struct alignas(16) Pack {
  static constexpr int kSize = 16 / sizeof(T);
  T values[kSize];
};

template <typename T>
__device__ __forceinline__ Pack<T> load_pack(const T* address) {
  Pack<T> pack;
  *reinterpret_cast<uint4*>(&pack) = *reinterpret_cast<const uint4*>(address);
  return pack;
}

template <typename T>
__device__ __forceinline__ void store_pack(T* address, const Pack<T>& pack) {
  *reinterpret_cast<uint4*>(address) = *reinterpret_cast<const uint4*>(&pack);
}

// erf-GELU for fp16 / bf16 outputs with one special-function op: x * Phi(x), where
// Phi(-a) = 2^p(a) for a = |x| and p is a degree-7 polynomial (in t = a/3 - 1) fitted to
// log2 Phi(-a) on [0, 6]; beyond 6, Phi(-a) < 1e-9 and a is clamped. Evaluated in float32 it is
// within 6.4e-7 of x * Phi(x) on [-12, 12], as close as the Abramowitz & Stegun erf it replaces
// (one reciprocal and one exp on the special-function unit, ~20 other instructions), and rounds to
// the same fp16 as the exact value for 99.94% of inputs. The FFN-in GEMM's epilogue runs this for
// every output while the tensor cores wait; fp32 outputs keep erff (the precise reference).
__device__ __forceinline__ float gelu_erf_fast(float x) {
  const float t = fmaf(fminf(fabsf(x), 6.f), 1.f / 3.f, -1.f);
  float p = -4.013196565e-03f;
  p = fmaf(p, t, 1.681611873e-02f);
  p = fmaf(p, t, -4.095317796e-02f);
  p = fmaf(p, t, 9.168309718e-02f);
  p = fmaf(p, t, -2.038834989e-01f);
  p = fmaf(p, t, -6.033975601e+00f);
  p = fmaf(p, t, -1.420956707e+01f);
  p = fmaf(p, t, -9.532936096e+00f);
  float tail;  // Phi(-|x|)
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(tail) : "f"(p));
  return x * (x < 0.f ? tail : 1.f - tail);
}

// erf-GELU for values that are about to become codes: FP8 E4M3 (3 mantissa bits, steps of 6-12%)
// or INT8 with a calibrated scale (steps of 1/127 of the range, far above the error below):
// 0.5 x (1 + tanh(x p(x^2))) with p fitted to erf-GELU on [-9, 9] (2.5e-5 from it; beyond, tanh
// saturates) and tanh.approx (relative error 2^-11, so up to 7e-4 absolute in the negative tail,
// where 1 + tanh cancels). One MUFU op instead of gelu_erf_fast's two: the passes that end in codes
// were ALU-bound on the GELU.
__device__ __forceinline__ float gelu_erf_for_codes(float x) {
  const float clamped = fminf(fmaxf(x, -9.f), 9.f);
  const float x2 = clamped * clamped;
  const float inner = x * fmaf(fmaf(-3.51516797e-04f, x2, 3.70056460e-02f), x2, 7.97507884e-01f);
  float t;
  asm("tanh.approx.f32 %0, %1;" : "=f"(t) : "f"(inner));
  const float half_x = 0.5f * x;
  return fmaf(half_x, t, half_x);
}

// GELU(x) * k for a pair of values in packed fp16 (k: the inverse of the codes' scale), for E4M3
// codes only (3 mantissa bits, steps of 6-12%): 0.5 x (1 + tanh(0.79788 (x + 0.044715 x^3))), the
// tanh form (4.7e-4 from erf-GELU at most, near x = 2.7: under 1% of an E4M3 step there) with
// tanh.approx.f16x2, two values an instruction. The FP8 FFN-in GEMM's epilogue issued ~10 more
// instructions per value than the same GEMM writing fp16, the GELU the largest part of them. No
// clamp: where fp16's x^2 overflows (|x| > 255) the argument is +-inf and tanh saturates.
__device__ __forceinline__ __half2 gelu_for_codes_x2(__half2 x, __half2 half_k) {
  const __half2 cubic = __float2half2_rn(0.7978845608f * 0.044715f);
  const __half2 linear = __float2half2_rn(0.7978845608f);
  const __half2 inner = __hmul2(x, __hfma2(__hmul2(x, x), cubic, linear));
  uint32_t t;
  asm("tanh.approx.f16x2 %0, %1;" : "=r"(t) : "r"(*reinterpret_cast<const uint32_t*>(&inner)));
  const __half2 half_kx = __hmul2(x, half_k);
  return __hfma2(half_kx, *reinterpret_cast<const __half2*>(&t), half_kx);
}

// The INT8 code of an already scaled value, as a float: rounded half away from zero and clamped to
// +-127, the rule of the CPU quantiser (quantize_int8_value, quant/int8_quant.cc). Every kernel
// that writes INT8 activation codes uses it, so GPU and CPU codes agree.
__device__ __forceinline__ float int8_code(float scaled) {
  return fminf(fmaxf(roundf(scaled), -127.f), 127.f);
}

__device__ __forceinline__ float gelu_erf_exact(float x) {
  return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
}

__device__ __forceinline__ float warp_sum(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

__device__ __forceinline__ float warp_max(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

}  // namespace justnews::cuda

// Calls `body` (a generic lambda taking a T* null pointer as a type tag) with the element type of
// `precision`.
#define JN_DISPATCH_PRECISION(precision, ...)                                      \
  [&] {                                                                            \
    switch (precision) {                                                           \
      case ::justnews::cuda::Precision::kFp16: { using T = __half; return __VA_ARGS__(); }        \
      case ::justnews::cuda::Precision::kBf16: { using T = __nv_bfloat16; return __VA_ARGS__(); } \
      default: { using T = float; return __VA_ARGS__(); }                          \
    }                                                                              \
  }()

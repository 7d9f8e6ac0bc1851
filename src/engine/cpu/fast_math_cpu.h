// Branch-free float32 exp and erf that compilers can vectorise (libm's expf/erff are scalar
// calls, which made softmax and GELU a third of the encoder's time). Accuracy: exp within a few
// ulp over [-87, 88] (inputs are clamped to that range, so it never returns inf or 0 for finite
// input); erf within 5e-7 absolute (Abramowitz & Stegun 7.1.26, 1.5e-7, plus float rounding).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace justnews {

// The constants of exp_fast, shared with the AVX-512 attention's vector exp.
namespace exp_cephes {
constexpr float kMin = -87.0f, kMax = 88.0f;  // the clamp: never inf, never 0
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;  // ln 2 split in two so that n·ln2 is exact
constexpr float kLn2Lo = -2.12194440e-4f;
// Cephes expf polynomial for e^r on |r| <= ln2/2, highest degree first: e^r = 1 + r + r²·p(r).
constexpr float kPoly[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                           4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
}  // namespace exp_cephes

inline float exp_fast(float x) {
  using namespace exp_cephes;
  constexpr float kRoundMagic = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  x = std::min(std::max(x, kMin), kMax);
  const float n = (x * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = x - n * kLn2Hi - n * kLn2Lo;
  float p = kPoly[0];  // written out: the callers' loops are vectorised around this body
  p = p * r + kPoly[1];
  p = p * r + kPoly[2];
  p = p * r + kPoly[3];
  p = p * r + kPoly[4];
  p = p * r + kPoly[5];
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline float erf_fast(float x) {
  const float magnitude = std::abs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * magnitude);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float y = 1.0f - poly * t * exp_fast(-magnitude * magnitude);
  return std::copysign(y, x);
}

}  // namespace justnews

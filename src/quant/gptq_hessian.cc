// GPTQ's inverse-Hessian factor through LAPACK. Debian's libopenblas-dev ships no lapacke.h (that
// is liblapacke-dev), but libopenblas exports LAPACK's Fortran symbols: they are declared here.
#include "quant/gptq_hessian.h"

#include <algorithm>
#include <climits>
#include <cstddef>

extern "C" {
// Fortran calling convention: every argument by pointer, then the hidden length of each
// character argument.
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info,
             std::size_t uplo_length);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info,
             std::size_t uplo_length, std::size_t diag_length);
}

namespace justnews {

// With J the reversal permutation: if U is upper-triangular with Uᵀ U = H⁻¹, then H = U⁻¹ U⁻ᵀ and
// J H J = (J U⁻¹ J)(J U⁻¹ J)ᵀ, whose factor J U⁻¹ J is lower-triangular, i.e. J H J's Cholesky
// factor L. So U = J L⁻¹ J: one Cholesky and one triangular inverse, half the work of factorising
// H, inverting it and factorising the inverse. Reversing both indices of a row-major matrix is
// reversing its storage; LAPACK's column-major view of a row-major matrix is its transpose.
bool gptq_inverse_upper_factor(std::vector<double>& hessian, int64_t n) {
  if (n <= 0 || n > INT_MAX || static_cast<int64_t>(hessian.size()) != n * n) return false;
  const int order = static_cast<int>(n);
  int info = 0;
  std::reverse(hessian.begin(), hessian.end());
  // Column-major lower = row-major upper: the factor L of J H J lands there as Lᵀ.
  dpotrf_("L", &order, hessian.data(), &order, &info, 1);
  if (info != 0) return false;
  dtrtri_("L", "N", &order, hessian.data(), &order, &info, 1, 1);
  if (info != 0) return false;
  // The row-major upper triangle holds (L⁻¹)ᵀ; reversed, the lower triangle holds Uᵀ.
  std::reverse(hessian.begin(), hessian.end());
  for (int64_t row = 0; row < n; ++row)
    for (int64_t col = row + 1; col < n; ++col) {
      hessian[static_cast<size_t>(row * n + col)] = hessian[static_cast<size_t>(col * n + row)];
      hessian[static_cast<size_t>(col * n + row)] = 0.0;
    }
  return true;
}

}  // namespace justnews

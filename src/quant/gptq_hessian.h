// The factor of GPTQ's inverse Hessian that the column sweep walks: U upper-triangular with
// Uᵀ U = H⁻¹. Computed with OpenBLAS's LAPACK (dpotrf + dtrtri), O(n³) at BLAS speed: the plain
// loops it replaces took minutes for BERT-base's 3072-wide FFN-output input.
#pragma once

#include <cstdint>
#include <vector>

namespace justnews {

// Replaces `hessian` ([n, n] row-major, symmetric positive definite, damped by the caller) by U,
// row-major with zeros below the diagonal. False when H is not positive definite (or n does not
// fit LAPACK's 32-bit sizes); `hessian` is then unspecified.
bool gptq_inverse_upper_factor(std::vector<double>& hessian, int64_t n);

}  // namespace justnews

// justnews quantize: the accuracy report of every CPU precision against FP32 (cosine, logit error,
// top-1 agreement, task accuracy, speed, weight memory), optional activation calibration, and the
// automatic choice of the fastest precision within an accuracy budget.
#pragma once

namespace justnews::cli {

int run_quantize_command(int argc, char** argv);

}  // namespace justnews::cli

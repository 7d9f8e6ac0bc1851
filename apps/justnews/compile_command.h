// justnews compile: converts a model directory into a cached engine plan for this GPU.
#pragma once

namespace justnews::cli {

int run_compile_command(int argc, char** argv);

}  // namespace justnews::cli

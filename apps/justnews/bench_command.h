// justnews bench: throughput and latency of one model on the CPU or CUDA backend, on synthetic
// shapes or on a JSONL corpus tokenised as in production.
#pragma once

namespace justnews::cli {

int run_bench_command(int argc, char** argv);

}  // namespace justnews::cli

// `justnews analyze INPUT`: runs every configured agent over a JSONL/CSV file (or stdin) into the
// store, with a progress bar on a terminal and a summary at the end.
#pragma once

namespace justnews::cli {

int run_analyze_command(int argc, char** argv);

}  // namespace justnews::cli

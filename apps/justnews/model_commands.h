// The model subcommands of the CLI: inspect, embed, classify.
#pragma once

namespace justnews::cli {

int run_inspect_command(int argc, char** argv);
int run_embed_command(int argc, char** argv);
int run_classify_command(int argc, char** argv);

}  // namespace justnews::cli

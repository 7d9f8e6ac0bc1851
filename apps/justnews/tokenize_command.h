// `justnews tokenize`: encode text lines or JSONL from stdin (or --input) and print JSONL with
// ids, tokens, offsets and type ids. Client of the tokenizer library only.
#pragma once

namespace justnews {

// argv[0] is "tokenize" (the sub-command name). Returns the process exit code: 0 when every
// line encoded, 1 when some line failed (its output line carries "error"), 2 on usage errors.
int run_tokenize_command(int argc, char** argv);

}  // namespace justnews

// justnews: the command-line front end. Each subcommand is a thin client of the library.
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  std::fprintf(stderr, "usage: justnews <inspect|embed|classify> ...\n");
  return argc > 1 ? 2 : 0;
}

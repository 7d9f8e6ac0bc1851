// analyze: parses options into a Config + AnalyzeOptions, calls run_analyze, and renders progress
// (a bar with articles/s and ETA on a terminal, plain log lines otherwise) and the final summary.
#include "analyze_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "cli_args.h"
#include "core/config.h"
#include "runtime/analyze_pipeline.h"

namespace justnews::cli {
namespace {

constexpr const char* kAnalyzeUsage = R"(usage: justnews analyze [options] INPUT

INPUT is a JSONL or CSV file (CSV needs a header row), or - for JSONL on stdin.
Every agent of the config runs on each new article; results go to the store (SQLite by default).
Articles already in the store (same content or URL) are skipped, so an interrupted run resumes.

options:
  --config FILE        the YAML config (agents, store, engine); default: built-in MiniLM agents
  --store PATH         SQLite file (default: store.sqlite_path of the config, "justnews.db")
  --jsonl PATH         also write one JSON object per analysed article (- = stdout)
  --format F           jsonl | csv (default: by extension)
  --title-field NAME   input field names (defaults: title, body, url, published, id)
  --body-field NAME
  --url-field NAME
  --published-field NAME
  --id-field NAME
  --backend B          auto | cpu | cuda (overrides engine.backend)
  --threads N          CPU threads (default: all)
  --commit-every N     articles per store transaction (default 64)
  --no-progress        plain log lines even on a terminal
)";

int fail(const Status& status) {
  std::fprintf(stderr, "justnews analyze: %s\n", status.to_string().c_str());
  return 1;
}

std::string format_bytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30)) return fmt::format("{:.2f} GiB", bytes / double(int64_t{1} << 30));
  return fmt::format("{:.1f} MiB", bytes / double(int64_t{1} << 20));
}

std::string format_duration(double seconds) {
  const int64_t total = static_cast<int64_t>(seconds + 0.5);
  return fmt::format("{}:{:02d}:{:02d}", total / 3600, static_cast<int>(total / 60 % 60), static_cast<int>(total % 60));
}

// Lines in a regular file, for the ETA; 0 when unknown (stdin, CSV with multi-line fields counts
// a little high, which only makes the ETA pessimistic).
int64_t count_lines(const std::string& path) {
  if (path == "-" || path.empty()) return 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0;
  int64_t lines = 0;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    for (std::streamsize idx = 0; idx < in.gcount(); ++idx) lines += buffer[idx] == '\n';
  }
  return lines;
}

class ProgressView {
 public:
  ProgressView(bool terminal, int64_t total_lines) : terminal_(terminal), total_lines_(total_lines) {}

  void update(const AnalyzeProgress& progress) {
    const auto now = std::chrono::steady_clock::now();
    const double interval_s = terminal_ ? 0.2 : 5.0;
    if (!progress.input_finished && std::chrono::duration<double>(now - last_).count() < interval_s) return;
    last_ = now;
    const double rate = progress.elapsed_s > 0 ? progress.articles_done / progress.elapsed_s : 0;
    std::string eta = "?";
    if (total_lines_ > 0 && rate > 0) {
      eta = format_duration(std::max<double>(0, static_cast<double>(total_lines_ - progress.articles_done)) / rate);
    }
    if (terminal_) {
      constexpr int kWidth = 30;
      const double fraction = total_lines_ > 0 ? std::min(1.0, double(progress.articles_done) / total_lines_) : 0;
      const int filled = static_cast<int>(fraction * kWidth);
      std::fprintf(stderr, "\r[%s%s] %lld articles  %.1f/s  ETA %s   ", std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, '-').c_str(), static_cast<long long>(progress.articles_done), rate,
                   eta.c_str());
      if (progress.input_finished) std::fputc('\n', stderr);
    } else {
      std::fprintf(stderr, "justnews analyze: %lld articles done%s, %.1f articles/s, ETA %s\n",
                   static_cast<long long>(progress.articles_done),
                   total_lines_ > 0 ? fmt::format(" of ~{}", total_lines_).c_str() : "", rate, eta.c_str());
    }
    std::fflush(stderr);
  }

  // Warnings must not be drawn over the bar.
  void warn(const std::string& message) {
    if (terminal_) std::fputc('\n', stderr);
    std::fprintf(stderr, "justnews analyze: %s\n", message.c_str());
  }

 private:
  bool terminal_;
  int64_t total_lines_;
  std::chrono::steady_clock::time_point last_{};
};

void print_summary(const AnalyzeSummary& s) {
  std::fprintf(stderr,
               "\nsummary: %lld articles read, %lld duplicates, %lld already stored, %lld analysed, "
               "%lld malformed, %lld failed in %.2f s (%.1f new articles/s)%s\n",
               static_cast<long long>(s.articles_read), static_cast<long long>(s.duplicates),
               static_cast<long long>(s.already_stored), static_cast<long long>(s.analyzed),
               static_cast<long long>(s.malformed), static_cast<long long>(s.failed), s.wall_s,
               s.wall_s > 0 ? s.analyzed / s.wall_s : 0.0, s.stopped_early ? " (stopped early)" : "");
  std::fprintf(stderr,
               "stages (busy s, overlapping threads): load %.2f s (store %.2f, device %.2f, agents %.2f), read %.2f s, "
               "tokenize %.2f s, wait for engines %.2f s, post-process %.2f s, store %.2f s; teardown after the "
               "run %.2f s\n",
               s.load_s, s.load_store_s, s.load_device_s, s.load_agents_s, s.read_s, s.tokenize_s, s.wait_s,
               s.postprocess_s, s.store_s, s.teardown_s);
  std::fprintf(stderr, "%-14s %-14s %-8s %8s %8s %10s %10s %11s %11s  %s\n", "agent", "task", "backend", "items",
               "batches", "engine s", "items/s", "mean lat s", "max lat s", "peak memory / budget");
  for (const AgentRunSummary& agent : s.agents) {
    const std::string pinned = agent.pinned_budget_bytes > 0 ? "; pinned " + format_bytes(agent.pinned_peak_bytes) +
                                                                   " / " + format_bytes(agent.pinned_budget_bytes)
                                                             : std::string();
    std::fprintf(stderr, "%-14s %-14s %-8s %8lld %8lld %10.2f %10.1f %11.3f %11.3f  %s / %s%s\n", agent.name.c_str(),
                 agent.task.c_str(), agent.backend.c_str(), static_cast<long long>(agent.items),
                 static_cast<long long>(agent.batches), agent.busy_s,
                 agent.busy_s > 0 ? agent.items / agent.busy_s : 0.0, agent.mean_latency_s, agent.max_latency_s,
                 format_bytes(agent.peak_memory_bytes).c_str(), format_bytes(agent.budget_bytes).c_str(),
                 pinned.c_str());
  }
  // Agents load in parallel: each one's time, and whether its CUDA plan came from the engine cache.
  for (const AgentRunSummary& agent : s.agents) {
    const std::string plan = agent.plan_origin.empty()
                                 ? std::string("no engine plan")
                                 : "plan " + agent.plan_origin + " (" + agent.plan_path + ")" +
                                       (agent.plan_rebuild_reason.empty() ? "" : ": " + agent.plan_rebuild_reason);
    const std::string encoder_parts =
        agent.plan_origin.empty() ? std::string()
                                  : fmt::format(" = fingerprint {:.2f} + plan {:.2f} + upload {:.2f}", agent.fingerprint_s,
                                                agent.plan_s, agent.upload_s);
    std::fprintf(stderr, "load %-14s %.2f s (model %.2f s, encoder %.2f s%s; tokenizer %.2f s beside them), %s\n",
                 agent.name.c_str(), agent.load_s, agent.model_s, agent.encoder_s, encoder_parts.c_str(),
                 agent.tokenizer_s, plan.c_str());
  }
}

}  // namespace

int run_analyze_command(int argc, char** argv) {
  auto args = CliArgs::parse(argc, argv,
                             {"config", "store", "jsonl", "format", "title-field", "body-field", "url-field",
                              "published-field", "id-field", "backend", "threads", "commit-every", "stop-after"},
                             {"no-progress", "help"});
  if (!args.ok()) return fail(args.status());
  if (args->has("help")) {
    std::fputs(kAnalyzeUsage, stdout);
    return 0;
  }
  if (args->positional().size() != 1) {
    std::fputs(kAnalyzeUsage, stderr);
    return 2;
  }
  Config config;
  if (args->has("config")) {
    auto loaded = load_config_file(args->get("config"));
    if (!loaded.ok()) return fail(loaded.status());
    config = std::move(loaded).value();
  }
  const std::pair<const char*, std::string*> field_options[] = {
      {"title-field", &config.input.title_field}, {"body-field", &config.input.body_field},
      {"url-field", &config.input.url_field},     {"published-field", &config.input.published_field},
      {"id-field", &config.input.id_field}};
  for (const auto& [option, field] : field_options) {
    if (args->has(option)) *field = args->get(option);
  }
  if (args->has("backend")) {
    const std::string backend = args->get("backend");
    if (backend != "auto" && backend != "cpu" && backend != "cuda") {
      return fail(invalid_argument("--backend must be auto, cpu or cuda, got '" + backend + "'"));
    }
    config.engine.backend = backend;
  }
  auto threads = args->get_int("threads", config.engine.num_threads, 0, 1024);
  if (!threads.ok()) return fail(threads.status());
  config.engine.num_threads = *threads;

  AnalyzeOptions options;
  options.input_path = args->positional()[0];
  options.input_format = args->get("format");
  options.store_path = args->get("store");
  options.jsonl_output = args->get("jsonl");
  auto commit_every = args->get_int("commit-every", options.commit_every, 1, 1 << 20);
  if (!commit_every.ok()) return fail(commit_every.status());
  options.commit_every = *commit_every;
  // Test hook for resume tests: stop as if killed after this many committed articles.
  auto stop_after = args->get_int("stop-after", 0, 0, 1 << 30);
  if (!stop_after.ok()) return fail(stop_after.status());
  options.stop_after_articles = *stop_after;

  const bool terminal = !args->has("no-progress") && isatty(STDERR_FILENO);
  ProgressView view(terminal, count_lines(options.input_path));
  AnalyzeCallbacks callbacks;
  callbacks.on_warning = [&view](const std::string& message) { view.warn(message); };
  callbacks.on_progress = [&view](const AnalyzeProgress& progress) { view.update(progress); };
  auto summary = run_analyze(config, options, callbacks);
  if (!summary.ok()) return fail(summary.status());
  print_summary(*summary);
  return summary->malformed > 0 || summary->failed > 0 ? 1 : 0;
}

}  // namespace justnews::cli

// JSON rendering of agent outputs.
#include "runtime/result_json.h"

#include <algorithm>

namespace justnews {
namespace {

std::string label_name(const std::vector<std::string>& labels, size_t label_idx) {
  return label_idx < labels.size() ? labels[label_idx] : "LABEL_" + std::to_string(label_idx);
}

}  // namespace

nlohmann::json agent_output_json(const Agent& agent, const AgentOutput& output) {
  return agent_output_json(agent.task(), agent.labels(), output);
}

nlohmann::json agent_output_json(AgentTask task, const std::vector<std::string>& labels, const AgentOutput& output) {
  nlohmann::json out = nlohmann::json::object();
  switch (task) {
    case AgentTask::kEmbed:
      out["dim"] = output.values.size();
      break;
    case AgentTask::kClassify: {
      const size_t best = static_cast<size_t>(
          std::max_element(output.values.begin(), output.values.end()) - output.values.begin());
      out["label"] = label_name(labels, best);
      out["score"] = output.values.empty() ? 0.0f : output.values[best];
      for (size_t label_idx = 0; label_idx < output.values.size(); ++label_idx) {
        out["scores"][label_name(labels, label_idx)] = output.values[label_idx];
      }
      break;
    }
    case AgentTask::kMultiLabel:
      out["labels"] = nlohmann::json::array();
      for (size_t label_idx = 0; label_idx < output.values.size(); ++label_idx) {
        if (output.values[label_idx] >= 0.5f) out["labels"].push_back(label_name(labels, label_idx));
        out["scores"][label_name(labels, label_idx)] = output.values[label_idx];
      }
      break;
    case AgentTask::kTokenClassify:
      out["tokens"] = nlohmann::json::array();
      for (const TokenPrediction& token : output.tokens) {
        out["tokens"].push_back({{"token", token.token_idx},
                                 {"label", label_name(labels, static_cast<size_t>(token.label_id))},
                                 {"score", token.score},
                                 {"start", token.char_begin},
                                 {"end", token.char_end}});
      }
      break;
  }
  return out;
}

}  // namespace justnews

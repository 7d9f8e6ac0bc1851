// The JSON form of an agent's output, as stored and as written to JSONL: label probabilities for
// classifiers, labels over 0.5 for multi-label, token labels with character spans for token
// classification; embeddings keep only their dimension here (the vector goes to the store).
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/agent.h"
#include "runtime/agent_output.h"

namespace justnews {

nlohmann::json agent_output_json(const Agent& agent, const AgentOutput& output);
// The same from the agent's task and id2label alone (labels missing there are written LABEL_<idx>).
nlohmann::json agent_output_json(AgentTask task, const std::vector<std::string>& labels, const AgentOutput& output);

}  // namespace justnews

// TensorMapFile lookups.
#include "model/tensor_map_file.h"

namespace justnews {

std::vector<std::string> TensorMapFile::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, tensor] : tensors_) names.push_back(name);
  return names;
}

Result<Tensor> TensorMapFile::tensor(const std::string& name) const {
  auto found = tensors_.find(name);
  if (found == tensors_.end()) return not_found(path_ + ": no tensor named '" + name + "'");
  return found->second;
}

}  // namespace justnews

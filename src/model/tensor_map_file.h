// TensorMapFile: the WeightFile both readers return, a name -> Tensor map built after every
// tensor has been validated.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "model/weight_file.h"

namespace justnews {

class TensorMapFile : public WeightFile {
 public:
  TensorMapFile(std::string path, std::map<std::string, Tensor> tensors)
      : path_(std::move(path)), tensors_(std::move(tensors)) {}

  const std::string& path() const override { return path_; }
  std::vector<std::string> tensor_names() const override;
  Result<Tensor> tensor(const std::string& name) const override;
  bool contains(const std::string& name) const override { return tensors_.count(name) != 0; }

 private:
  std::string path_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace justnews

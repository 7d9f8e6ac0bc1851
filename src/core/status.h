// Status and Result<T>: how library code reports failure. Messages say what failed and why,
// naming the file, field or tensor involved, so a user can act on them without a debugger.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace justnews {

enum class StatusCode {
  kOk,
  kInvalidArgument,   // the caller passed something malformed
  kNotFound,          // a file, tensor or key does not exist
  kIoError,           // the OS refused a read/write/mmap
  kCorruptData,       // a file exists but its contents are inconsistent
  kUnsupported,       // valid input we do not handle (architecture, dtype, ...)
  kOutOfRange,        // a value outside its allowed bounds
  kResourceExhausted, // a memory budget or queue would be exceeded
  kOverloaded,        // back-pressure: try again later
  kCancelled,
  kInternal,          // a bug in this program
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", for logs and CLI output.
  std::string to_string() const;
  // Returns a copy whose message is prefixed by `context: ` (e.g. the file being read).
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return Status(); }
inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status corrupt_data(std::string m) { return {StatusCode::kCorruptData, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status overloaded(std::string m) { return {StatusCode::kOverloaded, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = internal_error("Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace justnews

#define JN_CONCAT_INNER(a, b) a##b
#define JN_CONCAT(a, b) JN_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` failed.
#define JN_RETURN_IF_ERROR(expr)                         \
  do {                                                   \
    ::justnews::Status jn_status_ = (expr);              \
    if (!jn_status_.ok()) return jn_status_;             \
  } while (0)

// `JN_ASSIGN_OR_RETURN(auto x, make_x());` binds the value or returns the error.
#define JN_ASSIGN_OR_RETURN(lhs, expr) JN_ASSIGN_OR_RETURN_IMPL(JN_CONCAT(jn_result_, __LINE__), lhs, expr)
#define JN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

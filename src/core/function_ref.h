// A non-owning reference to a callable, for parameters that are only called during the call that
// receives them. Unlike std::function it never allocates (a lambda with more than a few captures
// costs std::function a heap block), which keeps launch paths allocation-free.
#pragma once

#include <type_traits>
#include <utility>

namespace justnews {

template <typename Signature>
class FunctionRef;

template <typename Result, typename... Args>
class FunctionRef<Result(Args...)> {
 public:
  FunctionRef() = default;  // refers to nothing; test with operator bool before calling
  // The callable must outlive every call through this reference (a temporary lambda passed as an
  // argument does: it lives to the end of the full expression).
  template <typename Callable,
            typename = std::enable_if_t<!std::is_same_v<std::decay_t<Callable>, FunctionRef> &&
                                        std::is_invocable_r_v<Result, Callable&, Args...>>>
  FunctionRef(Callable&& callable)  // NOLINT(google-explicit-constructor): passed like a lambda
      : object_(const_cast<void*>(static_cast<const void*>(&callable))),
        invoke_([](void* object, Args... args) -> Result {
          return (*static_cast<std::remove_reference_t<Callable>*>(object))(
              std::forward<Args>(args)...);
        }) {}

  Result operator()(Args... args) const { return invoke_(object_, std::forward<Args>(args)...); }
  explicit operator bool() const { return invoke_ != nullptr; }

 private:
  void* object_ = nullptr;
  Result (*invoke_)(void*, Args...) = nullptr;
};

}  // namespace justnews

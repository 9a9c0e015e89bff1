// Typed errors. Kernels and core code throw fibril::Error; the bindings turn each kind into
// the matching Python exception. Never assert or abort on user input.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace fibril {

enum class ErrorKind { Value, Type, Index, Memory, Runtime, NotImplemented };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

}  // namespace fibril

// FIBRIL_CHECK(cond, Value, "[op] message ", shape, ...): throws fibril::Error of that kind.
#define FIBRIL_CHECK(cond, kind, ...)                                                   \
  do {                                                                                  \
    if (!(cond)) throw ::fibril::Error(::fibril::ErrorKind::kind, ::fibril::str_cat(__VA_ARGS__)); \
  } while (0)

#define FIBRIL_FAIL(kind, ...) throw ::fibril::Error(::fibril::ErrorKind::kind, ::fibril::str_cat(__VA_ARGS__))

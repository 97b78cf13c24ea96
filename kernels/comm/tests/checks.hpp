// The correctness checks of kernels/comm, independent of the backend: each
// check runs on every rank of a world with that rank's Communicator and a
// RankMemory (where the backend's buffers live), compares every received
// byte with what the sending rank must have sent (values that depend on the
// sender, the receiver, the size and the position, so a misplaced, swapped
// or stale byte shows), checks the guard bytes around every receive buffer,
// and checks Traffic against the formulas of communicator.hpp after every
// operation. A failure throws CheckFailed naming the rank, the check and the
// first wrong element.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

#include "kernels/comm/communicator.hpp"

namespace attncheck::comm::test {

class CheckFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Memory where a rank's buffers live, with copies from and to the host.
class RankMemory {
 public:
  virtual ~RankMemory() = default;
  // `bytes` of rank memory, aligned for double, valid while this lives.
  virtual std::byte* allocate(std::size_t bytes) = 0;
  virtual void upload(std::byte* dst, const std::byte* src, std::size_t bytes) = 0;
  virtual void download(std::byte* dst, const std::byte* src, std::size_t bytes) = 0;
};

class HostMemory final : public RankMemory {
 public:
  std::byte* allocate(std::size_t bytes) override;
  void upload(std::byte* dst, const std::byte* src, std::size_t bytes) override;
  void download(std::byte* dst, const std::byte* src, std::size_t bytes) override;

 private:
  std::vector<std::unique_ptr<std::byte[]>> blocks_;
};

struct Check {
  const char* name;
  void (*run)(Communicator& comm, RankMemory& memory);
};

// Every check, in a fixed order (the same on every rank).
std::span<const Check> checks();

}  // namespace attncheck::comm::test

// What the backends share (not part of the public interface): argument
// checks with their messages, the cross-rank agreement check of collectives,
// Traffic bookkeeping and the rank-ordered sum of all_reduce_sum.
//
// Every message starts with "attncheck::comm <backend> <op>:" and names the
// ranks and sizes involved, so a wrong call in kernels/dist reads as what it is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>

#include "kernels/comm/communicator.hpp"

namespace attncheck::comm::detail {

enum class Op : std::uint64_t {
  SendRecv = 1,
  AllToAll,
  AllGather,
  AllReduceFloat,
  AllReduceDouble,
  Barrier,
};

const char* op_name(Op op);  // "sendrecv", "all_to_all", ..., "all_reduce_sum<float>"

// Local argument checks; each throws std::invalid_argument.
// sendrecv: dst and src in [0, size), and dst == rank exactly when src == rank
// (a message to oneself is received by oneself).
void check_sendrecv(const char* backend, int rank, int size, int dst, int src);
// all_to_all: send.size() == recv.size() == size * block; returns block.
std::size_t check_all_to_all(const char* backend, int rank, int size, std::size_t send_bytes,
                             std::size_t recv_bytes);
// all_gather: recv.size() == size * send.size().
void check_all_gather(const char* backend, int rank, int size, std::size_t send_bytes,
                      std::size_t recv_bytes);

// What one rank called a collective with: the operation and its agreeing
// size (all_to_all: the block; all_gather: send bytes; all_reduce_sum:
// elements; barrier: 0). Two words, so backends exchange it as uint64[2].
// A rank whose local argument check failed posts k_invalid_size, so that
// the other ranks of a process-based backend throw too instead of waiting.
struct Posting {
  std::uint64_t op = 0;
  std::uint64_t size = 0;
};
inline constexpr std::uint64_t k_invalid_size = ~std::uint64_t{0};
inline Posting posting(Op op, std::uint64_t size) { return {static_cast<std::uint64_t>(op), size}; }

// Throws std::invalid_argument when the postings of all ranks (index = rank)
// disagree: different operations, or different sizes. The message depends
// only on `all`, so every rank that checks the same postings throws the same.
void check_agreement(const char* backend, std::span<const Posting> all);

// The message of a sendrecv whose receive size differs from what src sends.
std::string sendrecv_size_mismatch(const char* backend, int rank, std::uint64_t recv_bytes, int src,
                                   std::uint64_t src_sends);

// Runs a local argument check; returns its std::invalid_argument instead of
// throwing it (process backends post it to the other ranks first).
template <class Check>
std::exception_ptr local_check(Check check) {
  try {
    check();
  } catch (const std::invalid_argument&) {
    return std::current_exception();
  }
  return nullptr;
}

// The message of an exception ("an exception not derived from std::exception"
// when it has none), for the Aborted messages of the other ranks.
std::string what_of(const std::exception_ptr& e);

// Adds one completed operation to `t` (bytes per the table in communicator.hpp).
void count_sendrecv(Traffic& t, int rank, int dst, std::size_t send_bytes);
void count_all_to_all(Traffic& t, int size, std::size_t block);
void count_all_gather(Traffic& t, int size, std::size_t send_bytes);
void count_all_reduce(Traffic& t, int size, std::size_t bytes);

// out[i] = ((parts[0][i] + parts[1][i]) + ...) + parts[P-1][i] for i < n,
// in T's arithmetic. out must not be one of the parts.
template <class T>
void ordered_sum(std::span<const T* const> parts, T* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    T acc = parts[0][i];
    for (std::size_t p = 1; p < parts.size(); ++p) acc += parts[p][i];
    out[i] = acc;
  }
}

}  // namespace attncheck::comm::detail

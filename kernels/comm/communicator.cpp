// Traffic and the helpers every backend shares (kernels/comm/detail.hpp).
#include "kernels/comm/communicator.hpp"

#include <fmt/format.h>

#include <exception>
#include <stdexcept>

#include "kernels/comm/detail.hpp"

namespace attncheck::comm {

std::uint64_t Traffic::total() const { return sendrecv + all_to_all + all_gather + all_reduce; }

namespace detail {

const char* op_name(Op op) {
  switch (op) {
    case Op::SendRecv: return "sendrecv";
    case Op::AllToAll: return "all_to_all";
    case Op::AllGather: return "all_gather";
    case Op::AllReduceFloat: return "all_reduce_sum<float>";
    case Op::AllReduceDouble: return "all_reduce_sum<double>";
    case Op::Barrier: return "barrier";
  }
  return "an unknown operation";
}

namespace {

const char* posted_name(std::uint64_t op) {
  return op >= static_cast<std::uint64_t>(Op::SendRecv) &&
                 op <= static_cast<std::uint64_t>(Op::Barrier)
             ? op_name(static_cast<Op>(op))
             : "an unknown operation";
}

// How a posting's size reads in a message.
std::string describe_size(const Posting& p) {
  if (p.size == k_invalid_size) return "invalid arguments (see that rank's error)";
  switch (static_cast<Op>(p.op)) {
    case Op::AllToAll: return fmt::format("blocks of {} bytes", p.size);
    case Op::AllGather: return fmt::format("{} bytes", p.size);
    case Op::AllReduceFloat:
    case Op::AllReduceDouble: return fmt::format("{} elements", p.size);
    default: return fmt::format("size {}", p.size);
  }
}

}  // namespace

void check_sendrecv(const char* backend, int rank, int size, int dst, int src) {
  if (dst < 0 || dst >= size || src < 0 || src >= size) {
    throw std::invalid_argument(fmt::format(
        "attncheck::comm {} sendrecv: rank {}: dst {} / src {} outside the world of {} ranks",
        backend, rank, dst, src, size));
  }
  if ((dst == rank) != (src == rank)) {
    throw std::invalid_argument(fmt::format(
        "attncheck::comm {} sendrecv: rank {} sends to rank {} but receives from rank {}: a "
        "message to oneself is received by oneself (dst and src both equal the rank or neither)",
        backend, rank, dst, src));
  }
}

std::size_t check_all_to_all(const char* backend, int rank, int size, std::size_t send_bytes,
                             std::size_t recv_bytes) {
  const auto p = static_cast<std::size_t>(size);
  if (send_bytes % p != 0 || recv_bytes != send_bytes) {
    throw std::invalid_argument(fmt::format(
        "attncheck::comm {} all_to_all: rank {}: send is {} bytes and recv {} bytes; both must be "
        "{} equal blocks (the same size)",
        backend, rank, send_bytes, recv_bytes, size));
  }
  return send_bytes / p;
}

void check_all_gather(const char* backend, int rank, int size, std::size_t send_bytes,
                      std::size_t recv_bytes) {
  if (recv_bytes != static_cast<std::size_t>(size) * send_bytes) {
    throw std::invalid_argument(fmt::format(
        "attncheck::comm {} all_gather: rank {}: recv is {} bytes, must be {} ranks x {} send "
        "bytes = {}",
        backend, rank, recv_bytes, size, send_bytes, static_cast<std::size_t>(size) * send_bytes));
  }
}

void check_agreement(const char* backend, std::span<const Posting> all) {
  bool same_op = true, same_size = true;
  for (const Posting& p : all) {
    same_op = same_op && p.op == all[0].op;
    same_size = same_size && p.size == all[0].size;
  }
  if (same_op && same_size) return;
  std::string ranks;
  for (std::size_t r = 0; r < all.size(); ++r) {
    ranks += fmt::format(
        "{}rank {} {}", r ? ", " : "", r,
        same_op ? describe_size(all[r])
                : fmt::format("called {} ({})", posted_name(all[r].op), describe_size(all[r])));
  }
  if (!same_op) {
    throw std::invalid_argument(fmt::format(
        "attncheck::comm {}: ranks called different collectives: {}; every rank must call the "
        "same collectives in the same order",
        backend, ranks));
  }
  throw std::invalid_argument(fmt::format("attncheck::comm {} {}: ranks disagree on the size: {}",
                                          backend, posted_name(all[0].op), ranks));
}

std::string sendrecv_size_mismatch(const char* backend, int rank, std::uint64_t recv_bytes, int src,
                                   std::uint64_t src_sends) {
  return fmt::format(
      "attncheck::comm {} sendrecv: rank {} receives {} bytes from rank {}, which sends {} bytes "
      "to rank {}",
      backend, rank, recv_bytes, src, src_sends, rank);
}

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

void count_sendrecv(Traffic& t, int rank, int dst, std::size_t send_bytes) {
  if (dst != rank) t.sendrecv += send_bytes;
  ++t.calls;
}

void count_all_to_all(Traffic& t, int size, std::size_t block) {
  t.all_to_all += static_cast<std::uint64_t>(size - 1) * block;
  ++t.calls;
}

void count_all_gather(Traffic& t, int size, std::size_t send_bytes) {
  t.all_gather += static_cast<std::uint64_t>(size - 1) * send_bytes;
  ++t.calls;
}

void count_all_reduce(Traffic& t, int size, std::size_t bytes) {
  t.all_reduce += static_cast<std::uint64_t>(size - 1) * bytes;
  ++t.calls;
}

}  // namespace detail
}  // namespace attncheck::comm

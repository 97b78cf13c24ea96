// The Communicator: what the distributed attention variants (kernels/dist)
// need from a process group, with one implementation per backend:
//   threads  ranks are std::threads of one process (kernels/comm/threads.hpp),
//   mpi      ranks are MPI processes (kernels/comm/mpi.hpp),
//   nccl     ranks are GPUs (kernels/comm/nccl.hpp).
//
// Contract, every backend:
//  - Every operation is blocking: when it returns, the receive buffer holds
//    the data and the send buffer may be reused.
//  - Buffers live where the rank computes: host memory for threads and mpi,
//    the rank's GPU memory for nccl. A send and a receive buffer of one call
//    must not overlap (all_reduce_sum works in place).
//  - Collectives (all_to_all, all_gather, all_reduce_sum, barrier) are called
//    by every rank in the same order with agreeing sizes. A size that
//    disagrees with another rank's is a std::invalid_argument naming the
//    operation, the ranks and the sizes, never a corrupted buffer.
//  - all_reduce_sum is deterministic: element i is
//    ((x_0[i] + x_1[i]) + x_2[i]) + ... + x_{P-1}[i] in the element type,
//    rank order, on every rank, so results are bitwise identical on every
//    rank and from run to run.
//  - Traffic counts the payload bytes this rank sent to OTHER ranks, as the
//    direct algorithm sends them (P = size()):
//        sendrecv        send.size() when dst != rank(), else 0
//        all_to_all      (P - 1) * block
//        all_gather      (P - 1) * send.size()
//        all_reduce_sum  (P - 1) * data.size_bytes()   (an all-gather, then a local ordered sum)
//    `calls` counts those four operations (barrier moves no payload and is
//    not counted). Control messages a backend adds (size agreement, see each
//    backend) are not payload and are not counted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace attncheck::comm {

// Bytes this rank sent to other ranks (self-copies excluded), per operation kind.
struct Traffic {
  std::uint64_t sendrecv = 0, all_to_all = 0, all_gather = 0, all_reduce = 0;
  std::uint64_t calls = 0;      // sendrecv + all_to_all + all_gather + all_reduce_sum calls
  std::uint64_t total() const;  // the four byte counters summed
  bool operator==(const Traffic&) const = default;
};

// Thrown in a rank released from (or refused entry to) an operation because
// another rank failed; the message names that rank and its error.
class Aborted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The threads backend found every rank still running waiting for a
// communication that no rank will make (mismatched sendrecv pairs, a rank
// that skipped a collective or returned early). The message lists what each
// rank waits for.
class Deadlock : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure reported by the MPI, NCCL or CUDA library (with its error string).
class BackendError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "threads", "mpi", "nccl"

  // Sends `send` to rank dst while receiving recv.size() bytes from rank src
  // (deadlock-free ring exchange; dst and src may equal rank(), both or
  // neither). Rank src must send exactly recv.size() bytes to this rank.
  virtual void sendrecv(std::span<const std::byte> send, int dst, std::span<std::byte> recv,
                        int src) = 0;
  // Equal blocks: send.size() == recv.size() == size() * block; block i of
  // send goes to rank i; block j of recv came from rank j.
  virtual void all_to_all(std::span<const std::byte> send, std::span<std::byte> recv) = 0;
  // recv.size() == size() * send.size(); block j of recv is rank j's send.
  virtual void all_gather(std::span<const std::byte> send, std::span<std::byte> recv) = 0;
  // In-place elementwise sum over ranks, in rank order (see above).
  virtual void all_reduce_sum(std::span<float> data) = 0;
  virtual void all_reduce_sum(std::span<double> data) = 0;
  virtual void barrier() = 0;

  // Typed forms of the byte operations (sizes in elements of T). T is
  // deduced from the receive span; the send argument converts to a span of
  // const T (a std::span<T>, a std::vector<T>...).
  template <class T>
  void sendrecv(std::span<const std::type_identity_t<T>> send, int dst, std::span<T> recv,
                int src) {
    static_assert(std::is_trivially_copyable_v<T>, "sendrecv copies bytes");
    sendrecv(std::as_bytes(send), dst, std::as_writable_bytes(recv), src);
  }
  template <class T>
  void all_to_all(std::span<const std::type_identity_t<T>> send, std::span<T> recv) {
    static_assert(std::is_trivially_copyable_v<T>, "all_to_all copies bytes");
    all_to_all(std::as_bytes(send), std::as_writable_bytes(recv));
  }
  template <class T>
  void all_gather(std::span<const std::type_identity_t<T>> send, std::span<T> recv) {
    static_assert(std::is_trivially_copyable_v<T>, "all_gather copies bytes");
    all_gather(std::as_bytes(send), std::as_writable_bytes(recv));
  }

  const Traffic& traffic() const { return traffic_; }
  void reset_traffic() { traffic_ = {}; }

 protected:
  Traffic traffic_;
};

}  // namespace attncheck::comm

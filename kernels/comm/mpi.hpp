// The mpi backend: ranks are the processes of an MPI communicator (CPU
// processes, host buffers); launch with mpiexec.
//
// MpiCommunicator works on a duplicate of the communicator it is given
// (MPI_COMM_WORLD by default), with MPI_ERRORS_RETURN: every MPI error is a
// comm::BackendError carrying MPI_Error_string. MPI must be initialized
// (MpiSession, or MPI_Init by the caller) before one is made, and it must be
// destroyed before MPI_Finalize (the duplicate is freed then).
//
// Operations: sendrecv is MPI_Sendrecv (a self-message is a local copy); a
// receive size that differs from what src sends is std::invalid_argument on
// the receiving rank (MPI_Get_count, or MPI's truncation error).
// all_to_all is MPI_Alltoall, all_gather MPI_Allgather, barrier MPI_Barrier.
// all_reduce_sum is MPI_Allgather of every rank's data followed by the sum in
// rank order, identical on every rank: MPI_Allreduce is not used, because the
// order in which it combines ranks is unspecified.
// Before each collective, ranks exchange (operation, size) in one 16-byte
// MPI_Allgather, so disagreeing sizes or collectives are a
// std::invalid_argument with the same message on every rank instead of
// undefined behaviour; those control bytes are not counted in Traffic.
// Sizes are limited to MPI's int counts: a block or message above INT_MAX
// bytes (all_reduce_sum: elements) is std::length_error.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <exception>
#include <vector>

#include "kernels/comm/communicator.hpp"

namespace attncheck::comm {

namespace detail {
enum class Op : std::uint64_t;
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }
  MPI_Comm native() const { return comm_; }  // the duplicate the operations run on

  using Communicator::all_gather;
  using Communicator::all_to_all;
  using Communicator::sendrecv;
  void sendrecv(std::span<const std::byte> send, int dst, std::span<std::byte> recv,
                int src) override;
  void all_to_all(std::span<const std::byte> send, std::span<std::byte> recv) override;
  void all_gather(std::span<const std::byte> send, std::span<std::byte> recv) override;
  void all_reduce_sum(std::span<float> data) override;
  void all_reduce_sum(std::span<double> data) override;
  void barrier() override;

 private:
  // The (operation, size) exchange before a collective. A rank whose local
  // argument check failed (`local`) posts an invalid size and rethrows its
  // error; the others throw the disagreement.
  void agree(detail::Op op, std::size_t size, const std::exception_ptr& local = nullptr);
  template <class T>
  void reduce(detail::Op op, std::span<T> data);
  [[noreturn]] void fail(int code, const char* what) const;
  void check(int code, const char* what) const {
    if (code != MPI_SUCCESS) fail(code, what);
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  std::vector<std::byte> gathered_;  // all_reduce_sum's all-gather buffer
};

// MPI_Init_thread in the constructor and MPI_Finalize in the destructor (for
// mains and tests). It asks for MPI_THREAD_SERIALIZED: MPI may be called from
// any thread, one at a time (a test runs each rank's work in a watchdog
// thread); an MPI that cannot provide it, or fails, is comm::BackendError.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

}  // namespace attncheck::comm

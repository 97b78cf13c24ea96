// The nccl backend's Communicator (internal to kernels/comm: users make one
// with run_nccl_devices or make_nccl_from_mpi, see nccl.hpp).
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>

#include "kernels/comm/communicator.hpp"
#include "kernels/comm/detail.hpp"

namespace attncheck::comm::detail {

// Shared by the ranks of one run_nccl_devices call: the first failure, and
// the flag that tells waiting ranks to abort.
class NcclFailure {
 public:
  void fail(int rank, const std::exception_ptr& e);
  bool aborted() const { return aborted_.load(); }
  std::exception_ptr first() const;
  std::string describe() const;  // "rank R failed: what"

 private:
  std::atomic<bool> aborted_{false};
  mutable std::mutex m_;
  std::exception_ptr first_;
  int rank_ = -1;
  std::string what_;
};

class NcclCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm`, made for CUDA device `device` (set as the
  // current device by the constructor). `failure` may be null (MPI bootstrap).
  NcclCommunicator(ncclComm_t comm, int device, std::shared_ptr<NcclFailure> failure);
  // ncclCommDestroy, or ncclCommAbort after a failure of this world.
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "nccl"; }

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

  // One exchange with every peer and one all-gather, so that NCCL sets up
  // its connections now (not counted in Traffic).
  void connect();

 private:
  void begin(Op op);  // the rank's device, prior work done, not aborted
  void wait(Op op);   // the stream done, polling for errors and aborts
  void agree(Op op, std::size_t size, const std::exception_ptr& local = nullptr);
  template <class T>
  void reduce(Op op, std::span<T> data);
  std::byte* scratch(std::size_t bytes);  // device memory, grown on demand
  void release();                         // the communicator and every buffer
  void check(ncclResult_t r, const char* what);
  void check(cudaError_t e, const char* what);

  ncclComm_t comm_ = nullptr;
  int device_ = 0;
  int rank_ = 0;
  int size_ = 1;
  cudaStream_t stream_ = nullptr;
  std::shared_ptr<NcclFailure> failure_;
  bool broken_ = false;  // an NCCL/CUDA error or abort: the communicator is aborted, not destroyed
  // Control words (device and pinned host): [0, 2) this rank's posting,
  // [2, 2 + 2P) everyone's, then 2 words out and 2 in of sendrecv's size exchange.
  std::uint64_t* control_device_ = nullptr;
  std::uint64_t* control_host_ = nullptr;
  void* scratch_ = nullptr;  // all_reduce_sum's all-gather buffer, connect()'s bytes
  std::size_t scratch_bytes_ = 0;
};

}  // namespace attncheck::comm::detail

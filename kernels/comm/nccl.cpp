// The nccl backend (kernels/comm/nccl.hpp): NcclCommunicator and
// run_nccl_devices.
#include "kernels/comm/nccl.hpp"

#include <fmt/format.h>

#include <latch>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/comm/nccl_communicator.hpp"
#include "kernels/comm/nccl_sum.hpp"

namespace attncheck::comm {
namespace detail {
namespace {

constexpr const char* k_backend = "nccl";
constexpr std::size_t k_posting_words = 2;

// Runs the NCCL calls of fn (which returns the first failing result) between
// ncclGroupStart and ncclGroupEnd; the group is closed even when one fails.
template <class Fn>
ncclResult_t grouped(Fn fn) {
  const ncclResult_t start = ncclGroupStart();
  if (start != ncclSuccess) return start;
  const ncclResult_t calls = fn();
  const ncclResult_t end = ncclGroupEnd();
  return calls != ncclSuccess ? calls : end;
}

// Keeps the first failing result of a sequence of NCCL calls.
struct FirstError {
  ncclResult_t result = ncclSuccess;
  void operator()(ncclResult_t r) {
    if (result == ncclSuccess) result = r;
  }
};

}  // namespace

void NcclFailure::fail(int rank, const std::exception_ptr& e) {
  std::lock_guard<std::mutex> l(m_);
  if (!first_) {
    first_ = e;
    rank_ = rank;
    what_ = what_of(e);
  }
  aborted_ = true;
}

std::exception_ptr NcclFailure::first() const {
  std::lock_guard<std::mutex> l(m_);
  return first_;
}

std::string NcclFailure::describe() const {
  std::lock_guard<std::mutex> l(m_);
  return fmt::format("rank {} failed: {}", rank_, what_);
}

NcclCommunicator::NcclCommunicator(ncclComm_t comm, int device,
                                   std::shared_ptr<NcclFailure> failure)
    : comm_(comm), device_(device), failure_(std::move(failure)) {
  try {
    check(cudaSetDevice(device_), "cudaSetDevice");
    check(ncclCommUserRank(comm_, &rank_), "ncclCommUserRank");
    check(ncclCommCount(comm_, &size_), "ncclCommCount");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    const std::size_t words = k_posting_words * (1 + static_cast<std::size_t>(size_)) + 4;
    check(cudaMalloc(&control_device_, words * sizeof(std::uint64_t)), "cudaMalloc");
    check(cudaMallocHost(&control_host_, words * sizeof(std::uint64_t)), "cudaMallocHost");
  } catch (...) {
    broken_ = true;
    release();  // the destructor does not run for an object that was never made
    throw;
  }
}

NcclCommunicator::~NcclCommunicator() { release(); }

void NcclCommunicator::release() {
  cudaSetDevice(device_);
  if (comm_) {
    if (broken_ || (failure_ && failure_->aborted())) {
      ncclCommAbort(comm_);
    } else {
      ncclCommDestroy(comm_);
    }
    comm_ = nullptr;
  }
  if (scratch_) cudaFree(scratch_);
  if (control_device_) cudaFree(control_device_);
  if (control_host_) cudaFreeHost(control_host_);
  if (stream_) cudaStreamDestroy(stream_);
  scratch_ = nullptr;
  control_device_ = nullptr;
  control_host_ = nullptr;
  stream_ = nullptr;
}

std::byte* NcclCommunicator::scratch(std::size_t bytes) {
  if (scratch_bytes_ < bytes) {
    if (scratch_) check(cudaFree(scratch_), "cudaFree (scratch)");
    scratch_ = nullptr;
    scratch_bytes_ = 0;
    check(cudaMalloc(&scratch_, bytes), "cudaMalloc (scratch)");
    scratch_bytes_ = bytes;
  }
  return static_cast<std::byte*>(scratch_);
}

void NcclCommunicator::check(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return;
  broken_ = true;
  throw BackendError(fmt::format("attncheck::comm nccl {}: rank {}: {} ({})", what, rank_,
                                 ncclGetErrorString(r), comm_ ? ncclGetLastError(comm_) : ""));
}

void NcclCommunicator::check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  broken_ = true;
  throw BackendError(fmt::format("attncheck::comm nccl {}: rank {} (CUDA device {}): {}: {}", what,
                                 rank_, device_, cudaGetErrorName(e), cudaGetErrorString(e)));
}

void NcclCommunicator::begin(Op op) {
  if (failure_ && failure_->aborted()) {
    throw Aborted(fmt::format("attncheck::comm nccl {}: rank {} released: {}", op_name(op), rank_,
                              failure_->describe()));
  }
  if (broken_ || !comm_) {
    throw BackendError(fmt::format(
        "attncheck::comm nccl {}: rank {}: the communicator failed earlier and was aborted",
        op_name(op), rank_));
  }
  check(cudaSetDevice(device_), "cudaSetDevice");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (the work before the operation)");
}

void NcclCommunicator::wait(Op op) {
  for (;;) {
    const cudaError_t e = cudaStreamQuery(stream_);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady) check(e, op_name(op));
    ncclResult_t async = ncclSuccess;
    check(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
    if (async != ncclSuccess && async != ncclInProgress) check(async, op_name(op));
    if (failure_ && failure_->aborted()) {
      broken_ = true;
      ncclCommAbort(comm_);  // stops this rank's kernels, which wait for the failed rank
      comm_ = nullptr;
      throw Aborted(fmt::format("attncheck::comm nccl {}: rank {} released: {}", op_name(op), rank_,
                                failure_->describe()));
    }
    std::this_thread::yield();
  }
}

void NcclCommunicator::agree(Op op, std::size_t size, const std::exception_ptr& local) {
  const auto p = static_cast<std::size_t>(size_);
  const Posting mine = posting(op, local ? k_invalid_size : size);
  control_host_[0] = mine.op;
  control_host_[1] = mine.size;
  check(cudaMemcpyAsync(control_device_, control_host_, k_posting_words * sizeof(std::uint64_t),
                        cudaMemcpyHostToDevice, stream_),
        "cudaMemcpyAsync (size agreement)");
  check(ncclAllGather(control_device_, control_device_ + k_posting_words, k_posting_words,
                      ncclUint64, comm_, stream_),
        "ncclAllGather (size agreement)");
  check(
      cudaMemcpyAsync(control_host_ + k_posting_words, control_device_ + k_posting_words,
                      p * k_posting_words * sizeof(std::uint64_t), cudaMemcpyDeviceToHost, stream_),
      "cudaMemcpyAsync (size agreement)");
  wait(op);
  if (local) std::rethrow_exception(local);
  std::vector<Posting> all(p);
  for (std::size_t q = 0; q < p; ++q) {
    all[q] = {control_host_[k_posting_words * (1 + q)],
              control_host_[k_posting_words * (1 + q) + 1]};
  }
  check_agreement(k_backend, all);
}

void NcclCommunicator::sendrecv(std::span<const std::byte> send, int dst, std::span<std::byte> recv,
                                int src) {
  check_sendrecv(k_backend, rank_, size_, dst, src);
  begin(Op::SendRecv);
  if (dst == rank_) {
    if (recv.size() != send.size()) {
      throw std::invalid_argument(
          sendrecv_size_mismatch(k_backend, rank_, recv.size(), rank_, send.size()));
    }
    if (!send.empty()) {
      check(
          cudaMemcpyAsync(recv.data(), send.data(), send.size(), cudaMemcpyDeviceToDevice, stream_),
          "cudaMemcpyAsync (sendrecv to itself)");
      wait(Op::SendRecv);
    }
    count_sendrecv(traffic_, rank_, dst, send.size());
    return;
  }
  // The size exchange: what I send to dst and what I expect from src, out;
  // what src sends me and what dst expects from me, in.
  const std::size_t at = k_posting_words * (1 + static_cast<std::size_t>(size_));
  std::uint64_t* out_host = control_host_ + at;
  std::uint64_t* out = control_device_ + at;
  out_host[0] = send.size();
  out_host[1] = recv.size();
  check(cudaMemcpyAsync(out, out_host, 2 * sizeof(std::uint64_t), cudaMemcpyHostToDevice, stream_),
        "cudaMemcpyAsync (sendrecv sizes)");
  check(grouped([&] {
          FirstError r;
          r(ncclSend(out, 1, ncclUint64, dst, comm_, stream_));
          r(ncclRecv(out + 2, 1, ncclUint64, src, comm_, stream_));
          r(ncclSend(out + 1, 1, ncclUint64, src, comm_, stream_));
          r(ncclRecv(out + 3, 1, ncclUint64, dst, comm_, stream_));
          return r.result;
        }),
        "ncclSend/ncclRecv (sendrecv sizes)");
  check(cudaMemcpyAsync(out_host + 2, out + 2, 2 * sizeof(std::uint64_t), cudaMemcpyDeviceToHost,
                        stream_),
        "cudaMemcpyAsync (sendrecv sizes)");
  wait(Op::SendRecv);
  if (out_host[2] != recv.size()) {
    throw std::invalid_argument(
        sendrecv_size_mismatch(k_backend, rank_, recv.size(), src, out_host[2]));
  }
  if (out_host[3] != send.size()) {
    throw std::invalid_argument(fmt::format(
        "attncheck::comm nccl sendrecv: rank {} sends {} bytes to rank {}, which receives {} bytes "
        "from rank {}",
        rank_, send.size(), dst, out_host[3], rank_));
  }
  check(grouped([&] {
          FirstError r;
          if (!send.empty()) r(ncclSend(send.data(), send.size(), ncclUint8, dst, comm_, stream_));
          if (!recv.empty()) r(ncclRecv(recv.data(), recv.size(), ncclUint8, src, comm_, stream_));
          return r.result;
        }),
        "ncclSend/ncclRecv (sendrecv)");
  wait(Op::SendRecv);
  count_sendrecv(traffic_, rank_, dst, send.size());
}

void NcclCommunicator::all_to_all(std::span<const std::byte> send, std::span<std::byte> recv) {
  std::size_t block = 0;
  const auto local = local_check(
      [&] { block = check_all_to_all(k_backend, rank_, size_, send.size(), recv.size()); });
  begin(Op::AllToAll);
  agree(Op::AllToAll, block, local);
  if (block > 0) {
    check(grouped([&] {
            FirstError r;
            for (int j = 0; j < size_; ++j) {
              if (j == rank_) continue;
              const std::size_t at = static_cast<std::size_t>(j) * block;
              r(ncclSend(send.data() + at, block, ncclUint8, j, comm_, stream_));
              r(ncclRecv(recv.data() + at, block, ncclUint8, j, comm_, stream_));
            }
            return r.result;
          }),
          "ncclSend/ncclRecv (all_to_all)");
    const std::size_t self = static_cast<std::size_t>(rank_) * block;
    check(cudaMemcpyAsync(recv.data() + self, send.data() + self, block, cudaMemcpyDeviceToDevice,
                          stream_),
          "cudaMemcpyAsync (all_to_all's own block)");
    wait(Op::AllToAll);
  }
  count_all_to_all(traffic_, size_, block);
}

void NcclCommunicator::all_gather(std::span<const std::byte> send, std::span<std::byte> recv) {
  const auto local =
      local_check([&] { check_all_gather(k_backend, rank_, size_, send.size(), recv.size()); });
  begin(Op::AllGather);
  agree(Op::AllGather, send.size(), local);
  if (!send.empty()) {
    check(ncclAllGather(send.data(), recv.data(), send.size(), ncclUint8, comm_, stream_),
          "ncclAllGather");
    wait(Op::AllGather);
  }
  count_all_gather(traffic_, size_, send.size());
}

template <class T>
void NcclCommunicator::reduce(Op op, std::span<T> data) {
  begin(op);
  agree(op, data.size());
  if (!data.empty()) {
    std::byte* gathered = scratch(static_cast<std::size_t>(size_) * data.size_bytes());
    check(ncclAllGather(data.data(), gathered, data.size_bytes(), ncclUint8, comm_, stream_),
          "ncclAllGather (all_reduce_sum)");
    check(ordered_sum_on_device(reinterpret_cast<const T*>(gathered), data.data(), data.size(),
                                size_, stream_),
          "ordered sum kernel launch");
    wait(op);
  }
  count_all_reduce(traffic_, size_, data.size_bytes());
}

void NcclCommunicator::all_reduce_sum(std::span<float> data) { reduce(Op::AllReduceFloat, data); }
void NcclCommunicator::all_reduce_sum(std::span<double> data) { reduce(Op::AllReduceDouble, data); }

void NcclCommunicator::barrier() {
  begin(Op::Barrier);
  agree(Op::Barrier, 0);  // an all-gather: no rank has everyone's posting before all posted
}

void NcclCommunicator::connect() {
  begin(Op::Barrier);
  const auto p = static_cast<std::size_t>(size_);
  std::byte* bytes = scratch(2 * p);
  check(grouped([&] {
          FirstError r;
          for (int j = 0; j < size_; ++j) {
            if (j == rank_) continue;
            r(ncclSend(bytes + j, 1, ncclUint8, j, comm_, stream_));
            r(ncclRecv(bytes + p + static_cast<std::size_t>(j), 1, ncclUint8, j, comm_, stream_));
          }
          return r.result;
        }),
        "ncclSend/ncclRecv (connection setup)");
  wait(Op::Barrier);
  agree(Op::Barrier, 0);
}

}  // namespace detail

void run_nccl_devices(int ngpus, const std::function<void(Communicator&)>& body) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    count = 0;
    cudaGetLastError();  // clear the sticky error of a machine without a driver or device
  }
  if (ngpus < 1 || ngpus > count) {
    throw std::invalid_argument(fmt::format(
        "attncheck::comm run_nccl_devices: {} ranks need {} CUDA devices, {} found{}", ngpus, ngpus,
        count,
        e != cudaSuccess ? fmt::format(" (cudaGetDeviceCount: {})", cudaGetErrorString(e)) : ""));
  }
  std::vector<ncclComm_t> comms(static_cast<std::size_t>(ngpus));
  std::vector<int> devices(comms.size());
  std::iota(devices.begin(), devices.end(), 0);
  if (const ncclResult_t r = ncclCommInitAll(comms.data(), ngpus, devices.data());
      r != ncclSuccess) {
    throw BackendError(fmt::format("attncheck::comm run_nccl_devices: ncclCommInitAll: {}",
                                   ncclGetErrorString(r)));
  }
  const auto failure = std::make_shared<detail::NcclFailure>();
  // Ranks finish together: then every communicator is destroyed, or after a
  // failure every one is aborted (a destroy would wait for the failed rank).
  std::latch finished(ngpus);
  const auto rank_main = [&](int r) {
    std::unique_ptr<detail::NcclCommunicator> comm;
    try {
      comm = std::make_unique<detail::NcclCommunicator>(comms[static_cast<std::size_t>(r)], r,
                                                        failure);
      comm->connect();
      body(*comm);
    } catch (...) {
      failure->fail(r, std::current_exception());
    }
    finished.arrive_and_wait();
    comm.reset();
  };
  std::vector<std::thread> threads;
  threads.reserve(comms.size());
  try {
    for (int r = 0; r < ngpus; ++r) threads.emplace_back(rank_main, r);
  } catch (...) {  // a thread could not start: its communicator is aborted here
    failure->fail(static_cast<int>(threads.size()), std::current_exception());
    for (std::size_t r = threads.size(); r < comms.size(); ++r) {
      cudaSetDevice(devices[r]);
      ncclCommAbort(comms[r]);
      finished.count_down();
    }
  }
  for (std::thread& t : threads) t.join();
  if (const std::exception_ptr first = failure->first()) std::rethrow_exception(first);
}

}  // namespace attncheck::comm

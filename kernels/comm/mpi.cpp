// The mpi backend (kernels/comm/mpi.hpp).
#include "kernels/comm/mpi.hpp"

#include <fmt/format.h>

#include <climits>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "kernels/comm/detail.hpp"

namespace attncheck::comm {
namespace {

using detail::Op;

constexpr const char* k_backend = "mpi";
constexpr int k_tag = 0xAC;  // sendrecv's tag; the duplicate communicator carries nothing else

std::string error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return fmt::format("MPI error {}", code);
  return std::string(text, static_cast<std::size_t>(length));
}

// An MPI count (int) of n units, or std::length_error.
int count_of(std::size_t n, const char* op, const char* unit) {
  if (n > static_cast<std::size_t>(INT_MAX)) {
    throw std::length_error(
        fmt::format("attncheck::comm mpi {}: {} {} exceed MPI's int count ({}); split the exchange",
                    op, n, unit, INT_MAX));
  }
  return static_cast<int>(n);
}

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype mpi_type<double>() {
  return MPI_DOUBLE;
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) {
    throw std::logic_error(
        "attncheck::comm mpi: MPI is not initialized (or already finalized); create an "
        "MpiSession or call MPI_Init first");
  }
  const int dup = MPI_Comm_dup(comm, &comm_);
  if (dup != MPI_SUCCESS) {
    throw BackendError("attncheck::comm mpi: MPI_Comm_dup: " + error_string(dup));
  }
  check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::fail(int code, const char* what) const {
  throw BackendError(
      fmt::format("attncheck::comm mpi {}: rank {}: {}", what, rank_, error_string(code)));
}

void MpiCommunicator::agree(Op op, std::size_t size, const std::exception_ptr& local) {
  static_assert(sizeof(detail::Posting) == 2 * sizeof(std::uint64_t));
  const detail::Posting mine = detail::posting(op, local ? detail::k_invalid_size : size);
  std::vector<detail::Posting> all(static_cast<std::size_t>(size_));
  check(MPI_Allgather(&mine, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, comm_),
        "size agreement (MPI_Allgather)");
  if (local) std::rethrow_exception(local);
  detail::check_agreement(k_backend, all);
}

void MpiCommunicator::sendrecv(std::span<const std::byte> send, int dst, std::span<std::byte> recv,
                               int src) {
  detail::check_sendrecv(k_backend, rank_, size_, dst, src);
  if (dst == rank_) {
    if (recv.size() != send.size()) {
      throw std::invalid_argument(
          detail::sendrecv_size_mismatch(k_backend, rank_, recv.size(), rank_, send.size()));
    }
    if (!send.empty()) std::memmove(recv.data(), send.data(), send.size());
    detail::count_sendrecv(traffic_, rank_, dst, send.size());
    return;
  }
  const int send_count = count_of(send.size(), "sendrecv", "bytes");
  const int recv_count = count_of(recv.size(), "sendrecv", "bytes");
  MPI_Status status;
  const int rc = MPI_Sendrecv(send.data(), send_count, MPI_BYTE, dst, k_tag, recv.data(),
                              recv_count, MPI_BYTE, src, k_tag, comm_, &status);
  if (rc != MPI_SUCCESS) {
    int error_class = 0;
    MPI_Error_class(rc, &error_class);
    if (error_class == MPI_ERR_TRUNCATE) {
      throw std::invalid_argument(fmt::format(
          "attncheck::comm mpi sendrecv: rank {} receives {} bytes from rank {}, which sends more "
          "to rank {} ({})",
          rank_, recv.size(), src, rank_, error_string(rc)));
    }
    fail(rc, "sendrecv (MPI_Sendrecv)");
  }
  int received = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &received), "sendrecv (MPI_Get_count)");
  if (received != recv_count) {
    throw std::invalid_argument(detail::sendrecv_size_mismatch(
        k_backend, rank_, recv.size(), src, static_cast<std::uint64_t>(received)));
  }
  detail::count_sendrecv(traffic_, rank_, dst, send.size());
}

void MpiCommunicator::all_to_all(std::span<const std::byte> send, std::span<std::byte> recv) {
  std::size_t block = 0;
  const auto local = detail::local_check(
      [&] { block = detail::check_all_to_all(k_backend, rank_, size_, send.size(), recv.size()); });
  agree(Op::AllToAll, block, local);
  const int count = count_of(block, "all_to_all", "bytes per block");
  if (count > 0) {
    check(MPI_Alltoall(send.data(), count, MPI_BYTE, recv.data(), count, MPI_BYTE, comm_),
          "all_to_all (MPI_Alltoall)");
  }
  detail::count_all_to_all(traffic_, size_, block);
}

void MpiCommunicator::all_gather(std::span<const std::byte> send, std::span<std::byte> recv) {
  const auto local = detail::local_check(
      [&] { detail::check_all_gather(k_backend, rank_, size_, send.size(), recv.size()); });
  agree(Op::AllGather, send.size(), local);
  const int count = count_of(send.size(), "all_gather", "bytes");
  if (count > 0) {
    check(MPI_Allgather(send.data(), count, MPI_BYTE, recv.data(), count, MPI_BYTE, comm_),
          "all_gather (MPI_Allgather)");
  }
  detail::count_all_gather(traffic_, size_, send.size());
}

template <class T>
void MpiCommunicator::reduce(Op op, std::span<T> data) {
  agree(op, data.size());
  const int count = count_of(data.size(), detail::op_name(op), "elements");
  if (count > 0) {
    gathered_.resize(static_cast<std::size_t>(size_) * data.size_bytes());
    check(MPI_Allgather(data.data(), count, mpi_type<T>(), gathered_.data(), count, mpi_type<T>(),
                        comm_),
          "all_reduce_sum (MPI_Allgather)");
    std::vector<const T*> parts;
    for (int p = 0; p < size_; ++p) {
      parts.push_back(reinterpret_cast<const T*>(gathered_.data() + p * data.size_bytes()));
    }
    detail::ordered_sum<T>(parts, data.data(), data.size());
  }
  detail::count_all_reduce(traffic_, size_, data.size_bytes());
}

void MpiCommunicator::all_reduce_sum(std::span<float> data) { reduce(Op::AllReduceFloat, data); }
void MpiCommunicator::all_reduce_sum(std::span<double> data) { reduce(Op::AllReduceDouble, data); }

void MpiCommunicator::barrier() {
  agree(Op::Barrier, 0);
  check(MPI_Barrier(comm_), "barrier (MPI_Barrier)");
}

MpiSession::MpiSession(int& argc, char**& argv) {
  int provided = MPI_THREAD_SINGLE;
  const int rc = MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  if (rc != MPI_SUCCESS) {
    throw BackendError("attncheck::comm mpi: MPI_Init_thread: " + error_string(rc));
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    throw BackendError(fmt::format(
        "attncheck::comm mpi: MPI provides thread level {}, MPI_THREAD_SERIALIZED ({}) is needed",
        provided, MPI_THREAD_SERIALIZED));
  }
}

MpiSession::~MpiSession() { MPI_Finalize(); }

}  // namespace attncheck::comm

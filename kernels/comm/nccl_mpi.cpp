// The nccl backend bootstrapped through MPI (kernels/comm/nccl_mpi.hpp).
#include "kernels/comm/nccl_mpi.hpp"

#include <fmt/format.h>

#include <string>

#include "kernels/comm/nccl_communicator.hpp"

namespace attncheck::comm {
namespace {

// The device this process drives: `device`, or its rank among the
// processes of its node. Throws BackendError.
int select_device(MPI_Comm comm, int rank, int device) {
  int count = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();
    throw BackendError(fmt::format("attncheck::comm nccl (MPI rank {}): cudaGetDeviceCount: {}",
                                   rank, cudaGetErrorString(e)));
  }
  if (device < 0) {
    MPI_Comm node;
    int local_rank = 0, local_size = 1;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_size(node, &local_size);
    MPI_Comm_free(&node);
    if (local_size > count) {
      throw BackendError(fmt::format(
          "attncheck::comm nccl (MPI rank {}): {} processes on this node need {} CUDA devices, {} "
          "found",
          rank, local_size, local_size, count));
    }
    device = local_rank;
  }
  if (device >= count) {
    throw BackendError(
        fmt::format("attncheck::comm nccl (MPI rank {}): CUDA device {} requested, {} found", rank,
                    device, count));
  }
  if (const cudaError_t e = cudaSetDevice(device); e != cudaSuccess) {
    throw BackendError(fmt::format("attncheck::comm nccl (MPI rank {}): cudaSetDevice({}): {}",
                                   rank, device, cudaGetErrorString(e)));
  }
  return device;
}

// Throws BackendError on every process when any process failed a step
// (`error` empty where it succeeded), so that no process waits for another
// that gave up.
void all_succeeded(MPI_Comm comm, const std::string& error, const char* step) {
  const int ok = error.empty() ? 1 : 0;
  int all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
  if (all_ok) return;
  throw BackendError(error.empty()
                         ? fmt::format("attncheck::comm nccl: another MPI rank failed {}", step)
                         : error);
}

}  // namespace

std::unique_ptr<Communicator> make_nccl_from_mpi(MPI_Comm comm, int device) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);

  std::string error;
  try {
    device = select_device(comm, rank, device);
  } catch (const BackendError& e) {
    error = e.what();
  }
  all_succeeded(comm, error, "to select its CUDA device");

  struct {
    int ok = 0;
    ncclUniqueId id{};
  } root;
  ncclResult_t made = ncclSuccess;
  if (rank == 0) {
    made = ncclGetUniqueId(&root.id);
    root.ok = made == ncclSuccess;
  }
  MPI_Bcast(&root, sizeof root, MPI_BYTE, 0, comm);
  if (!root.ok) {
    throw BackendError(fmt::format("attncheck::comm nccl: ncclGetUniqueId failed on MPI rank 0{}",
                                   rank == 0 ? std::string(": ") + ncclGetErrorString(made) : ""));
  }

  ncclComm_t nccl = nullptr;
  const ncclResult_t init = ncclCommInitRank(&nccl, size, root.id, rank);
  try {
    all_succeeded(comm,
                  init == ncclSuccess
                      ? std::string()
                      : fmt::format("attncheck::comm nccl (MPI rank {}): ncclCommInitRank: {}",
                                    rank, ncclGetErrorString(init)),
                  "ncclCommInitRank");
  } catch (const BackendError&) {
    if (init == ncclSuccess) ncclCommAbort(nccl);
    throw;
  }
  auto result = std::make_unique<detail::NcclCommunicator>(nccl, device, nullptr);
  result->connect();
  return result;
}

}  // namespace attncheck::comm

// The nccl backend: ranks are GPUs, buffers are the rank's device memory
// (cudaMalloc'd on its device). Two ways to make one:
//  - run_nccl_devices(ngpus, body): one process drives CUDA devices
//    0..ngpus-1 (ncclCommInitAll), one host thread per device with its own
//    Communicator (cudaSetDevice done in that thread), like run_threads;
//  - make_nccl_from_mpi (kernels/comm/nccl_mpi.hpp): one GPU per MPI process.
//
// Operations are blocking like every backend's: each starts with
// cudaDeviceSynchronize on the rank's device (so buffers written by any
// stream are ready), runs on the communicator's own stream and returns when
// that stream is done. sendrecv is a grouped ncclSend/ncclRecv (a self-message
// is a cudaMemcpyAsync), all_to_all grouped ncclSend/ncclRecv with every peer,
// all_gather ncclAllGather. all_reduce_sum is ncclAllGather into a scratch
// buffer and a kernel that adds the parts in rank order (nccl_sum.cu), so it
// is deterministic and identical on every rank; ncclAllReduce is not used
// because its reduction order depends on the algorithm and topology NCCL picks.
//
// Size errors never reach NCCL (where they would hang or corrupt memory):
// before each collective the ranks all-gather (operation, size), and before a
// sendrecv the two peers exchange their send and receive sizes, so both sides
// of a disagreement throw std::invalid_argument. These control messages are
// not counted in Traffic. NCCL and CUDA errors are comm::BackendError.
//
// Failures in run_nccl_devices: while waiting for the GPU a rank polls, so
// when another rank has thrown it aborts its NCCL communicator (which stops
// its kernels) and throws comm::Aborted; after joining, the first failure is
// rethrown. Before the body runs, every rank exchanges with every peer once
// so that NCCL's connections exist and no later call blocks in host-side
// connection setup to a failed peer. Mispaired sendrecv calls (a peer that
// never sends) are not detected and hang, as in NCCL itself; the threads
// backend reports them as comm::Deadlock.
#pragma once

#include <functional>

#include "kernels/comm/communicator.hpp"

namespace attncheck::comm {

// Needs ngpus CUDA devices (1 <= ngpus <= cudaGetDeviceCount), else
// std::invalid_argument naming both counts.
void run_nccl_devices(int ngpus, const std::function<void(Communicator&)>& body);

}  // namespace attncheck::comm

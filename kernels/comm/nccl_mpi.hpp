// The nccl backend bootstrapped through MPI: one GPU per MPI process
// (kernels/comm/nccl.hpp describes the operations). Built when both MPI and
// NCCL are found.
#pragma once

#include <mpi.h>

#include <memory>

#include "kernels/comm/communicator.hpp"

namespace attncheck::comm {

// Collective over `comm` (MPI initialized): every process selects its CUDA
// device (`device`, or with -1 its rank among the processes of its node,
// which must not exceed the node's device count), rank 0 makes the NCCL
// unique id, MPI_Bcast shares it and ncclCommInitRank builds the
// communicator; rank() and size() are those of `comm`. A failure on any
// process (no device, NCCL error) throws comm::BackendError on every process.
std::unique_ptr<Communicator> make_nccl_from_mpi(MPI_Comm comm = MPI_COMM_WORLD, int device = -1);

}  // namespace attncheck::comm

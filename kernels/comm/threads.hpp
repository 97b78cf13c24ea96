// The threads backend: `world` ranks in this process, one thread each (kept
// between worlds in a pool), exchanging data through host memory. It is the embedded default of the
// distributed variants: no MPI, no GPU, and every failure is an exception.
//
// run_threads(world, body) runs body(comm) on every rank (rank r's comm has
// rank() == r) and returns when all have returned. It never hangs on a
// communication error:
//  - a rank that throws releases every rank waiting in (or later entering) an
//    operation with comm::Aborted;
//  - sizes that disagree between ranks (a sendrecv receive size against what
//    the peer sends, a collective's block or element count, different
//    collectives at the same step) throw std::invalid_argument naming the
//    operation, ranks and sizes in the rank that detects it;
//  - when every rank still running waits for a communication no rank will
//    make (mispaired sendrecv, a rank that skipped a collective or returned),
//    one of them throws comm::Deadlock listing what each rank waits for.
// After joining, run_threads rethrows the first such original exception
// (never an Aborted caused by it).
//
// Data moves by one copy: the receiver copies straight from the sender's
// buffer, which stays valid because the sender waits until its data is
// taken. Synchronisation is one mutex per world and one condition variable
// per rank: a state change wakes only the ranks it lets go on.
#pragma once

#include <functional>

#include "kernels/comm/communicator.hpp"

namespace attncheck::comm {

// world >= 1, else std::invalid_argument.
void run_threads(int world, const std::function<void(Communicator&)>& body);

}  // namespace attncheck::comm

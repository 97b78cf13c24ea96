// The threads backend (kernels/comm/threads.hpp).
//
// One World per run_threads call holds, under one mutex:
//  - messages_[r]: the sendrecv message rank r has posted (at most one: the
//    call blocks until its receiver took it). A receiver waiting for rank src
//    takes messages_[src] once it is pending and addressed to it; since src
//    blocks until then, messages between a pair match in order.
//  - contributions_[r]: what rank r called the collective in progress with.
//    A collective is: post, rendezvous (everyone posted), agreement check,
//    copy from the other ranks' buffers, rendezvous (everyone done reading).
//  - copiers_: ranks copying from other ranks' buffers right now, outside the
//    lock. No rank leaves an operation, not even to throw, while copiers_ > 0,
//    so no buffer is freed under a reader; and no copy starts after an abort.
//  - ranks_[r]: whether rank r waits, and for what (its wait condition).
//    Every state change evaluates the conditions of the waiting ranks and
//    wakes only those whose condition now holds (each rank has its own
//    condition variable), so a hand-off between two ranks wakes one thread,
//    not all of them. Deadlock detection follows from the same conditions:
//    state changes only under the lock, by ranks that are not waiting, so
//    when every rank still running waits on a condition that is false now,
//    nothing will ever change.
#include "kernels/comm/threads.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/comm/detail.hpp"

namespace attncheck::comm {
namespace {

using detail::Op;

constexpr const char* k_backend = "threads";

struct Message {
  const std::byte* data = nullptr;
  std::size_t size = 0;
  int dst = -1;
  bool pending = false;
};

struct Contribution {
  detail::Posting posting;
  const std::byte* send = nullptr;  // the send buffer (all_reduce_sum: the data)
};

struct RankState {
  bool finished = false;
  bool waiting = false;
  std::function<bool()> ready;  // its wait condition, while waiting
  std::condition_variable cv;   // notified when `ready` holds or the world aborts
  bool woken = false;           // notified since it last looked
  std::string waits_for;        // what it waits for, for a Deadlock message
};

class World {
 public:
  using CopyFn = std::function<void(std::span<const Contribution>)>;

  explicit World(int size)
      : size_(size), messages_(size), contributions_(size), ranks_(std::size_t(size)) {}

  int size() const { return size_; }

  // Records a failure of `rank` (the first recorded is the one run_threads
  // rethrows) and releases every rank.
  void fail(int rank, const std::exception_ptr& e) {
    Lock l(m_);
    record(rank, e);
  }

  void finish(int rank) {
    Lock l(m_);
    ranks_[rank].finished = true;
    changed();
  }

  std::exception_ptr failure() {
    Lock l(m_);
    return failure_;
  }

  void sendrecv(int rank, std::span<const std::byte> send, int dst, std::span<std::byte> recv,
                int src) {
    Lock l(m_);
    check_aborted(l, rank, Op::SendRecv);
    Message& mine = messages_[rank];
    mine = {send.data(), send.size(), dst, true};
    changed();
    wait(l, rank, Op::SendRecv,
         fmt::format("in sendrecv for {} bytes from rank {} (sending {} bytes to rank {})",
                     recv.size(), src, send.size(), dst),
         [&] { return messages_[src].pending && messages_[src].dst == rank; });
    const Message in = messages_[src];
    if (in.size != recv.size()) {
      const auto e = std::make_exception_ptr(std::invalid_argument(
          detail::sendrecv_size_mismatch(k_backend, rank, recv.size(), src, in.size)));
      record(rank, e);
      leave(l, e);
    }
    copy_unlocked(l, [&] {
      if (in.size == 0) return;
      if (src == rank) {
        std::memmove(recv.data(), in.data, in.size);  // a self-message may overlap recv
      } else {
        std::memcpy(recv.data(), in.data, in.size);
      }
    });
    messages_[src].pending = false;
    changed();  // its sender may return
    wait(l, rank, Op::SendRecv,
         fmt::format("in sendrecv for rank {} to take its {} bytes", dst, send.size()),
         [&] { return !mine.pending; });
  }

  // Posts (op, size, send), waits for every rank, checks that all agree,
  // runs `copy` over every rank's contribution (outside the lock), and waits
  // until every rank has copied.
  void collective(int rank, Op op, std::uint64_t size, const std::byte* send, const CopyFn& copy) {
    Lock l(m_);
    check_aborted(l, rank, op);
    contributions_[rank] = {detail::posting(op, size), send};
    arrive(l, rank, op);
    const std::vector<Contribution> all = contributions_;
    std::vector<detail::Posting> postings;
    for (const Contribution& c : all) postings.push_back(c.posting);
    try {
      detail::check_agreement(k_backend, postings);
    } catch (const std::invalid_argument&) {
      const auto e = std::current_exception();
      record(rank, e);
      leave(l, e);
    }
    check_aborted(l, rank, op);
    copy_unlocked(l, [&] { copy(all); });
    arrive(l, rank, op);
  }

 private:
  using Lock = std::unique_lock<std::mutex>;

  // After every state change: wakes the waiting ranks that can go on. When
  // none can and no rank runs any more (the change was a rank returning),
  // wakes one waiting rank to find the deadlock.
  void changed() {
    bool someone_runs = false;
    RankState* stuck = nullptr;
    for (RankState& r : ranks_) {
      if (r.finished) continue;
      if (!r.waiting || r.woken) {
        someone_runs = true;
      } else if (aborted_ || r.ready()) {
        r.woken = true;
        r.cv.notify_one();
        someone_runs = true;
      } else if (!stuck) {
        stuck = &r;
      }
    }
    if (!someone_runs && stuck) {
      stuck->woken = true;
      stuck->cv.notify_one();
    }
    if (leaving_ > 0) cv_.notify_all();
  }

  void record(int rank, const std::exception_ptr& e) {
    if (!failure_) {
      failure_ = e;
      failed_rank_ = rank;
      failure_what_ = detail::what_of(e);
    }
    if (!aborted_) {
      aborted_ = true;
      changed();
    }
  }

  // Rethrows e once no rank copies from any rank's buffers.
  [[noreturn]] void leave(Lock& l, const std::exception_ptr& e) {
    ++leaving_;
    cv_.wait(l, [&] { return copiers_ == 0; });
    --leaving_;
    std::rethrow_exception(e);
  }

  void check_aborted(Lock& l, int rank, Op op) {
    if (!aborted_) return;
    leave(l, std::make_exception_ptr(Aborted(
                 fmt::format("attncheck::comm {} {}: rank {} released: rank {} failed: {}",
                             k_backend, detail::op_name(op), rank, failed_rank_, failure_what_))));
  }

  // Runs fn (a copy between rank buffers) with the lock released, counted
  // in copiers_.
  template <class Fn>
  void copy_unlocked(Lock& l, Fn fn) {
    ++copiers_;
    l.unlock();
    try {
      fn();
    } catch (...) {
      l.lock();
      --copiers_;
      changed();
      throw;
    }
    l.lock();
    --copiers_;
    changed();
  }

  // Waits until ready(); throws Aborted when the world aborts, Deadlock when
  // every rank still running waits for something no rank will do.
  template <class Ready>
  void wait(Lock& l, int rank, Op op, std::string waits_for, Ready ready) {
    RankState& me = ranks_[rank];
    me.waits_for = std::move(waits_for);
    auto stop_waiting = [&] {
      me.waiting = false;
      me.ready = nullptr;
    };
    for (;;) {
      if (aborted_) {
        stop_waiting();
        check_aborted(l, rank, op);
      }
      if (ready()) {
        stop_waiting();
        return;
      }
      if (!me.waiting) {
        me.waiting = true;
        me.ready = ready;
      }
      if (everyone_stuck(rank)) {
        stop_waiting();
        const auto e = std::make_exception_ptr(Deadlock(deadlock_message()));
        record(rank, e);
        leave(l, e);
      }
      me.cv.wait(l);
      me.woken = false;  // only a waiting rank is woken, so it is false on every wait
    }
  }

  // Whether every rank still running but `self` (whose condition was just
  // found false) waits on a condition that is false now.
  bool everyone_stuck(int self) const {
    for (std::size_t r = 0; r < ranks_.size(); ++r) {
      const RankState& x = ranks_[r];
      if (x.finished || int(r) == self) continue;
      if (!x.waiting || x.ready()) return false;
    }
    return true;
  }

  std::string deadlock_message() const {
    std::string ranks;
    for (std::size_t r = 0; r < ranks_.size(); ++r) {
      ranks += fmt::format(
          "; rank {} {}", r,
          ranks_[r].finished ? "has returned from its body" : "waits " + ranks_[r].waits_for);
    }
    return fmt::format(
        "attncheck::comm {}: deadlock: every rank still running waits for a communication no "
        "rank will make{}",
        k_backend, ranks);
  }

  // A rendezvous of all ranks (a generation-counting barrier).
  void arrive(Lock& l, int rank, Op op) {
    const std::uint64_t generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      changed();
      return;
    }
    wait(l, rank, op, fmt::format("in {} for the other ranks to arrive", detail::op_name(op)),
         [&] { return generation_ != generation; });
  }

  std::mutex m_;
  std::condition_variable cv_;
  int size_;
  int leaving_ = 0;  // ranks in leave(), waiting on cv_ for copiers_ == 0
  bool aborted_ = false;
  std::exception_ptr failure_;
  int failed_rank_ = -1;
  std::string failure_what_;
  int copiers_ = 0;
  std::vector<Message> messages_;            // index: the sending rank
  std::vector<Contribution> contributions_;  // index: rank
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
  std::vector<RankState> ranks_;
};

class ThreadsCommunicator final : public Communicator {
 public:
  ThreadsCommunicator(World& world, int rank) : world_(world), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return world_.size(); }
  const char* backend() const override { return k_backend; }

  void sendrecv(std::span<const std::byte> send, int dst, std::span<std::byte> recv,
                int src) override {
    detail::check_sendrecv(k_backend, rank_, size(), dst, src);
    world_.sendrecv(rank_, send, dst, recv, src);
    detail::count_sendrecv(traffic_, rank_, dst, send.size());
  }

  void all_to_all(std::span<const std::byte> send, std::span<std::byte> recv) override {
    const std::size_t block =
        detail::check_all_to_all(k_backend, rank_, size(), send.size(), recv.size());
    world_.collective(rank_, Op::AllToAll, block, send.data(),
                      [&](std::span<const Contribution> all) {
                        if (block == 0) return;
                        for (std::size_t j = 0; j < all.size(); ++j) {
                          std::memcpy(recv.data() + j * block, all[j].send + rank_ * block, block);
                        }
                      });
    detail::count_all_to_all(traffic_, size(), block);
  }

  void all_gather(std::span<const std::byte> send, std::span<std::byte> recv) override {
    detail::check_all_gather(k_backend, rank_, size(), send.size(), recv.size());
    const std::size_t n = send.size();
    world_.collective(rank_, Op::AllGather, n, send.data(), [&](std::span<const Contribution> all) {
      if (n == 0) return;
      for (std::size_t j = 0; j < all.size(); ++j) std::memcpy(recv.data() + j * n, all[j].send, n);
    });
    detail::count_all_gather(traffic_, size(), n);
  }

  void all_reduce_sum(std::span<float> data) override { reduce(Op::AllReduceFloat, data); }
  void all_reduce_sum(std::span<double> data) override { reduce(Op::AllReduceDouble, data); }

  void barrier() override {
    world_.collective(rank_, Op::Barrier, 0, nullptr, [](std::span<const Contribution>) {});
  }

 private:
  // Every rank sums all ranks' data in rank order into its own `sum`, and
  // writes it back to data after the closing rendezvous, when no rank reads
  // data any more.
  template <class T>
  void reduce(Op op, std::span<T> data) {
    std::vector<T> sum(data.size());
    world_.collective(rank_, op, data.size(), reinterpret_cast<const std::byte*>(data.data()),
                      [&](std::span<const Contribution> all) {
                        std::vector<const T*> parts;
                        for (const Contribution& c : all) {
                          parts.push_back(reinterpret_cast<const T*>(c.send));
                        }
                        detail::ordered_sum<T>(parts, sum.data(), sum.size());
                      });
    std::copy(sum.begin(), sum.end(), data.begin());
    detail::count_all_reduce(traffic_, size(), data.size_bytes());
  }

  World& world_;
  int rank_;
};

// Persistent rank threads. A world's ranks run on threads kept from earlier
// worlds, so a campaign that runs thousands of small worlds pays for thread
// creation, stack faults and a fresh malloc arena once per thread, not once
// per rank per case. Worlds started concurrently (or from inside a rank) take
// disjoint threads; the pool grows when every kept thread is busy.
class RankThreads {
 public:
  static RankThreads& get() {
    static RankThreads* pool = [] {
      auto* p = new RankThreads;  // lives as long as the process
      // A forked child has none of the parent's threads: it forgets them
      // (their records leak) and starts its own. m_ is held across fork so
      // the child never inherits it locked by a thread it does not have.
      pthread_atfork([] { get().m_.lock(); }, [] { get().m_.unlock(); },
                     [] {
                       get().idle_.clear();
                       get().m_.unlock();
                     });
      return p;
    }();
    return *pool;
  }

  // Runs job(r) for r in [0, n) on n pool threads and returns when all
  // returned. job must not throw. Throws (having run nothing) when a thread
  // cannot be started.
  void run(int n, const std::function<void(int)>& job) {
    std::vector<Worker*> mine;
    {
      std::lock_guard<std::mutex> l(m_);
      while (int(mine.size()) < n && !idle_.empty()) {
        mine.push_back(idle_.back());
        idle_.pop_back();
      }
    }
    try {
      while (int(mine.size()) < n) mine.push_back(start_worker());
    } catch (...) {
      std::lock_guard<std::mutex> l(m_);
      for (Worker* w : mine) idle_.push_back(w);
      throw;
    }
    Done done;
    done.left = n;
    for (int r = 0; r < n; ++r) {
      Worker* w = mine[std::size_t(r)];
      std::lock_guard<std::mutex> l(w->m);
      w->job = &job;
      w->rank = r;
      w->done = &done;
      w->cv.notify_one();
    }
    std::unique_lock<std::mutex> l(m_);
    done.cv.wait(l, [&] { return done.left == 0; });
  }

 private:
  struct Done {
    std::condition_variable cv;
    int left = 0;  // under m_
  };
  struct Worker {
    std::mutex m;
    std::condition_variable cv;
    const std::function<void(int)>* job = nullptr;  // under m
    int rank = -1;
    Done* done = nullptr;
  };

  Worker* start_worker() {
    auto w = std::make_unique<Worker>();
    std::thread([this, w = w.get()] { loop(*w); }).detach();
    return w.release();  // owned by the pool from here on, never freed
  }

  void loop(Worker& w) {
    for (;;) {
      const std::function<void(int)>* job;
      int rank;
      Done* done;
      {
        std::unique_lock<std::mutex> l(w.m);
        w.cv.wait(l, [&] { return w.job != nullptr; });
        job = w.job;
        rank = w.rank;
        done = w.done;
        w.job = nullptr;
      }
      (*job)(rank);
      // Back to the idle list before the world is told, so a world started
      // right after this one returns finds the thread free. `done` lives on
      // the caller's stack until it has seen left == 0, which it reads under
      // m_: notifying under m_ keeps it alive for the notify.
      std::lock_guard<std::mutex> l(m_);
      idle_.push_back(&w);
      if (--done->left == 0) done->cv.notify_one();
    }
  }

  std::mutex m_;
  std::vector<Worker*> idle_;
};

}  // namespace

void run_threads(int world, const std::function<void(Communicator&)>& body) {
  if (world < 1) {
    throw std::invalid_argument(
        fmt::format("attncheck::comm run_threads: world is {}, must be at least 1", world));
  }
  World w(world);
  // A rank thread that cannot be started fails the world before any rank runs.
  RankThreads::get().run(world, [&w, &body](int r) {
    ThreadsCommunicator comm(w, r);
    try {
      body(comm);
    } catch (...) {
      w.fail(r, std::current_exception());
    }
    w.finish(r);
  });
  if (const std::exception_ptr e = w.failure()) std::rethrow_exception(e);
}

}  // namespace attncheck::comm

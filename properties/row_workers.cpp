#include "properties/row_workers.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>

namespace attncheck::props {

namespace {

// ---- Wire format: little-endian fixed-width scalars, length-prefixed
// strings and sequences, written by hand (the records are small and private
// to one binary talking to its own fork).
class Writer {
 public:
  template <typename T>
  void pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    pod(std::uint64_t(s.size()));
    out_ += s;
  }
  template <typename T>
  void vec(const std::vector<T>& v) {
    pod(std::uint64_t(v.size()));
    for (const T& x : v) pod(x);
  }
  template <typename V>
  void map(const std::map<std::string, V>& m) {
    pod(std::uint64_t(m.size()));
    for (const auto& [k, v] : m) {
      str(k);
      pod(v);
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  template <typename T>
  T pod() {
    T v;
    need(sizeof v);
    std::memcpy(&v, in_.data() + at_, sizeof v);
    at_ += sizeof v;
    return v;
  }
  std::string str() {
    const auto n = count(1);
    std::string s = in_.substr(at_, n);
    at_ += n;
    return s;
  }
  template <typename T>
  std::vector<T> vec() {
    const auto n = count(sizeof(T));
    std::vector<T> v(n);
    for (auto& x : v) x = pod<T>();
    return v;
  }
  template <typename V>
  std::map<std::string, V> map() {
    const auto n = count(sizeof(std::uint64_t) + sizeof(V));
    std::map<std::string, V> m;
    for (std::size_t i = 0; i < n; ++i) {
      std::string k = str();
      m[k] = pod<V>();
    }
    return m;
  }
  void done() const {
    if (at_ != in_.size()) throw std::runtime_error("row record: trailing bytes");
  }

 private:
  void need(std::size_t n) const {
    if (in_.size() - at_ < n) throw std::runtime_error("row record: truncated");
  }
  std::size_t count(std::size_t elem) {
    const auto n = pod<std::uint64_t>();
    if (n > (in_.size() - at_) / std::max<std::size_t>(1, elem)) {
      throw std::runtime_error("row record: length exceeds the record");
    }
    return std::size_t(n);
  }
  const std::string& in_;
  std::size_t at_ = 0;
};

constexpr std::uint32_t k_magic = 0x61636b72;  // "rkca"

bool write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= std::size_t(w);
  }
  return true;
}

// false on end of file or an error before n bytes.
bool read_all(int fd, void* p, std::size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= std::size_t(r);
  }
  return true;
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return fmt::format("signal {} ({})", sig, strsignal(sig));
  }
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  return "unknown status";
}

struct Worker {
  pid_t pid = -1;
  int task_fd = -1;    // this process writes row indices
  int result_fd = -1;  // this process reads records
  int row = -1;        // the row it runs; -1: idle
};

}  // namespace

std::string encode_row(const WorkerRow& w) {
  Writer o;
  const Row& r = w.row;
  o.pod(k_magic);
  for (const auto* s : {&r.impl, &r.device, &r.code, &r.name}) o.str(*s);
  for (int v : {r.cases, r.passed, r.failed, r.skipped}) o.pod(std::int32_t(v));
  o.pod(r.worst_ratio);
  o.pod(r.seconds);
  o.pod(std::uint8_t(r.cut_by_time));
  o.map(r.skip_reasons);
  o.vec(r.ratios);
  std::vector<std::int8_t> outcomes;
  for (auto s : r.outcomes) outcomes.push_back(std::int8_t(s));
  o.vec(outcomes);
  o.vec(r.case_seconds);
  for (const auto* s : {&r.failure, &r.counterexample}) o.str(*s);
  for (int v : {r.shrunk_docs, r.shrunk_tokens, r.cases_to_failure}) o.pod(std::int32_t(v));
  for (const auto* s : {&r.reproduce, &r.replay, &r.saved_to}) o.str(*s);
  o.pod(std::uint8_t(r.strip.has_value()));
  if (r.strip) {
    const io::ErrorStrip& s = *r.strip;
    o.str(s.plain_run);
    o.str(s.plain_run_message);
    o.pod(std::int32_t(s.total_q));
    o.pod(std::int32_t(s.total_kv));
    for (const auto* v : {&s.cu_seqlens_q, &s.cu_seqlens_q_padded, &s.cu_seqlens_kv,
                          &s.cu_seqlens_kv_padded}) {
      o.vec(*v);
    }
    for (const auto* v : {&s.out, &s.lse, &s.dq, &s.dk, &s.dv}) o.vec(*v);
    o.map(s.tensor_metrics);
  }
  o.pod(std::uint8_t(w.interrupted));
  o.map(w.coverage);
  o.pod(std::uint64_t(w.generated.size()));
  for (const io::GeneratedCase& g : w.generated) {
    for (int v : {g.total_q, g.total_kv, g.heads_q, g.heads_kv, g.head_dim, g.head_dim_v}) {
      o.pod(std::int32_t(v));
    }
    for (const auto* s : {&g.dtype, &g.mask, &g.values}) o.str(*s);
    o.pod(std::uint8_t(g.position_ids));
    o.vec(g.lengths_q);
    o.vec(g.lengths_kv);
  }
  return o.take();
}

WorkerRow decode_row(const std::string& bytes) {
  Reader in(bytes);
  if (in.pod<std::uint32_t>() != k_magic) throw std::runtime_error("row record: bad magic");
  WorkerRow w;
  Row& r = w.row;
  for (auto* s : {&r.impl, &r.device, &r.code, &r.name}) *s = in.str();
  for (int* v : {&r.cases, &r.passed, &r.failed, &r.skipped}) *v = in.pod<std::int32_t>();
  r.worst_ratio = in.pod<double>();
  r.seconds = in.pod<double>();
  r.cut_by_time = in.pod<std::uint8_t>() != 0;
  r.skip_reasons = in.map<int>();
  r.ratios = in.vec<double>();
  for (auto s : in.vec<std::int8_t>()) {
    if (s < 0 || s > 2) throw std::runtime_error("row record: bad outcome");
    r.outcomes.push_back(Outcome::Status(s));
  }
  r.case_seconds = in.vec<double>();
  for (auto* s : {&r.failure, &r.counterexample}) *s = in.str();
  for (int* v : {&r.shrunk_docs, &r.shrunk_tokens, &r.cases_to_failure}) *v = in.pod<std::int32_t>();
  for (auto* s : {&r.reproduce, &r.replay, &r.saved_to}) *s = in.str();
  if (in.pod<std::uint8_t>() != 0) {
    io::ErrorStrip s;
    s.plain_run = in.str();
    s.plain_run_message = in.str();
    s.total_q = in.pod<std::int32_t>();
    s.total_kv = in.pod<std::int32_t>();
    for (auto* v : {&s.cu_seqlens_q, &s.cu_seqlens_q_padded, &s.cu_seqlens_kv,
                    &s.cu_seqlens_kv_padded}) {
      *v = in.vec<std::int32_t>();
    }
    for (auto* v : {&s.out, &s.lse, &s.dq, &s.dk, &s.dv}) *v = in.vec<double>();
    s.tensor_metrics = in.map<double>();
    r.strip = std::move(s);
  }
  w.interrupted = in.pod<std::uint8_t>() != 0;
  w.coverage = in.map<int>();
  const auto n = in.pod<std::uint64_t>();
  if (n > bytes.size()) throw std::runtime_error("row record: length exceeds the record");
  for (std::uint64_t i = 0; i < n; ++i) {
    io::GeneratedCase g;
    for (int* v : {&g.total_q, &g.total_kv, &g.heads_q, &g.heads_kv, &g.head_dim, &g.head_dim_v}) {
      *v = in.pod<std::int32_t>();
    }
    for (auto* s : {&g.dtype, &g.mask, &g.values}) *s = in.str();
    g.position_ids = in.pod<std::uint8_t>() != 0;
    g.lengths_q = in.vec<std::int32_t>();
    g.lengths_kv = in.vec<std::int32_t>();
    w.generated.push_back(std::move(g));
  }
  in.done();
  return w;
}

std::vector<std::optional<WorkerRow>> run_rows_forked(
    const std::vector<int>& order, int jobs, const std::function<WorkerRow(int)>& run,
    const std::function<WorkerRow(int, const std::string&)>& lost, const std::atomic<bool>* stop,
    const std::function<void(int)>& on_done, const std::function<void()>& setup) {
  int rows = 0;
  for (int i : order) rows = std::max(rows, i + 1);
  std::vector<std::optional<WorkerRow>> out(static_cast<std::size_t>(rows));
  std::vector<Worker> workers;
  std::size_t next = 0;  // into order
  bool told_stop = false;
  auto stopped = [&] { return stop && stop->load(); };

  // A broken pipe (a worker gone) must be an error return, not a signal.
  struct sigaction ignore {}, old_pipe {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, &old_pipe);

  auto start = [&]() -> bool {
    int task[2], result[2];
    if (pipe(task) != 0) return false;
    if (pipe(result) != 0) {
      close(task[0]);
      close(task[1]);
      return false;
    }
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      for (int fd : {task[0], task[1], result[0], result[1]}) close(fd);
      return false;
    }
    if (pid == 0) {
      // The worker: this process's copies of the other workers' pipes go.
      for (const Worker& w : workers) {
        close(w.task_fd);
        close(w.result_fd);
      }
      close(task[1]);
      close(result[0]);
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // the campaign's process gone: stop too
      if (setup) setup();
      for (;;) {
        std::int32_t i;
        if (!read_all(task[0], &i, sizeof i) || i < 0) _exit(0);
        std::string rec;
        try {
          rec = encode_row(run(i));
        } catch (const std::exception& e) {
          rec = encode_row(lost(i, fmt::format("the row raised: {}", e.what())));
        }
        const std::uint64_t n = rec.size();
        if (!write_all(result[1], &n, sizeof n) || !write_all(result[1], rec.data(), rec.size())) {
          _exit(1);
        }
      }
    }
    close(task[0]);
    close(result[1]);
    workers.push_back({pid, task[1], result[0], -1});
    return true;
  };
  auto hand_out = [&](Worker& w) {
    if (stopped() || next >= order.size()) {
      const std::int32_t quit = -1;
      write_all(w.task_fd, &quit, sizeof quit);
      w.row = -2;  // told to quit
      return;
    }
    const std::int32_t i = order[next++];
    if (!write_all(w.task_fd, &i, sizeof i)) {
      --next;
      w.row = -2;
      return;
    }
    w.row = i;
  };
  auto retire = [&](std::size_t k) {
    close(workers[k].task_fd);
    close(workers[k].result_fd);
    int status = 0;
    while (waitpid(workers[k].pid, &status, 0) < 0 && errno == EINTR) {
    }
    workers.erase(workers.begin() + std::ptrdiff_t(k));
    return status;
  };

  for (int j = 0; j < jobs && next < order.size(); ++j) {
    if (!start()) break;
    hand_out(workers.back());
  }
  if (workers.empty()) {
    // No process could be started: run the rows here, one after another.
    sigaction(SIGPIPE, &old_pipe, nullptr);
    for (; next < order.size() && !stopped(); ++next) {
      out[std::size_t(order[next])] = run(order[next]);
      on_done(order[next]);
    }
    return out;
  }

  while (!workers.empty()) {
    if (stopped() && !told_stop) {
      told_stop = true;
      for (const Worker& w : workers) kill(w.pid, SIGTERM);
    }
    std::vector<pollfd> fds;
    for (const Worker& w : workers) fds.push_back({w.result_fd, POLLIN, 0});
    const int ready = poll(fds.data(), fds.size(), 200);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    for (std::size_t k = workers.size(); k-- > 0;) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Worker& w = workers[k];
      std::uint64_t n = 0;
      std::string rec;
      bool ok = read_all(w.result_fd, &n, sizeof n);
      if (ok) {
        rec.resize(std::size_t(n));
        ok = read_all(w.result_fd, rec.data(), rec.size());
      }
      if (ok && w.row >= 0) {
        const int i = w.row;
        try {
          out[std::size_t(i)] = decode_row(rec);
        } catch (const std::exception& e) {
          out[std::size_t(i)] = lost(i, fmt::format("its worker's report was unreadable ({})", e.what()));
        }
        on_done(i);
        hand_out(w);
        continue;
      }
      // End of file: the worker quit as told, or died.
      const int row = w.row;
      const int status = retire(k);
      if (row >= 0) {
        const bool stopped_by_us = told_stop && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM;
        if (!stopped_by_us) {
          out[std::size_t(row)] = lost(
              row, fmt::format("the worker process running this row died ({})", describe_status(status)));
          on_done(row);
        }
        if (!stopped() && next < order.size() && start()) hand_out(workers.back());
      }
    }
  }
  sigaction(SIGPIPE, &old_pipe, nullptr);
  return out;
}

}  // namespace attncheck::props

// The backend-independent checks of kernels/comm (checks.hpp).
#include "kernels/comm/tests/checks.hpp"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <thread>

#include "kernels/comm/tests/check_support.hpp"

namespace attncheck::comm::test {
namespace {

using namespace support;  // the vocabulary of every check

constexpr std::array<std::size_t, 6> k_message_sizes{0, 1, 3, 64, 1000, 65543};

void sendrecv_ring(Communicator& c, RankMemory& m) {
  Ctx ctx(c, m, "sendrecv_ring");
  const int p = c.size(), r = c.rank();
  for (const int dir : {1, -1}) {
    for (const std::size_t n : k_message_sizes) {
      const int dst = (r + dir + p) % p, src = (r - dir + p) % p;
      const std::uint64_t salt = n * 2 + (dir > 0);
      Buffer<std::byte> send(ctx, n), recv(ctx, n);
      const auto data = make<std::byte>(n, [&](std::size_t i) { return pattern(r, dst, salt, i); });
      send.set(data);
      c.sendrecv(send.bytes(), dst, recv.span(), src);
      const std::string what =
          fmt::format("sendrecv of {} bytes from rank {} (ring direction {:+d})", n, src, dir);
      expect_elements(ctx, what, recv.get(ctx, what),
                      [&](std::size_t i) { return pattern(src, r, salt, i); });
      expect_unchanged(ctx, what, send, data);
      ctx.want.sendrecv += dst != r ? n : 0;
      ++ctx.want.calls;
      ctx.expect_traffic(what);
    }
  }
}

// Every pair of ranks: in step k rank r sends to r + k and receives from
// r - k, with a size that depends on the pair (step 0 is a self-message).
void sendrecv_shifts(Communicator& c, RankMemory& m) {
  Ctx ctx(c, m, "sendrecv_shifts");
  const int p = c.size(), r = c.rank();
  const auto pair_size = [](int from, int to) -> std::size_t {
    return 1 + (from * 37 + to * 11) % 97;
  };
  for (int k = 0; k < p; ++k) {
    const int dst = (r + k) % p, src = (r - k + p) % p;
    const std::size_t n_send = pair_size(r, dst), n_recv = pair_size(src, r);
    Buffer<std::byte> send(ctx, n_send), recv(ctx, n_recv);
    send.set(make<std::byte>(n_send, [&](std::size_t i) { return pattern(r, dst, 7, i); }));
    c.sendrecv(send.bytes(), dst, recv.span(), src);
    const std::string what =
        fmt::format("shift {}: sendrecv of {} bytes from rank {}", k, n_recv, src);
    expect_elements(ctx, what, recv.get(ctx, what),
                    [&](std::size_t i) { return pattern(src, r, 7, i); });
    ctx.want.sendrecv += dst != r ? n_send : 0;
    ++ctx.want.calls;
    ctx.expect_traffic(what);
  }
}

void sendrecv_self(Communicator& c, RankMemory& m) {
  Ctx ctx(c, m, "sendrecv_self");
  const int r = c.rank();
  for (const std::size_t n : {std::size_t{0}, std::size_t{5}, std::size_t{4096}}) {
    Buffer<std::byte> send(ctx, n), recv(ctx, n);
    send.set(make<std::byte>(n, [&](std::size_t i) { return pattern(r, r, n, i); }));
    c.sendrecv(send.bytes(), r, recv.span(), r);
    const std::string what = fmt::format("sendrecv of {} bytes to itself", n);
    expect_elements(ctx, what, recv.get(ctx, what),
                    [&](std::size_t i) { return pattern(r, r, n, i); });
    ++ctx.want.calls;  // no bytes: a self-copy is not traffic
    ctx.expect_traffic(what);
  }
}

void all_to_all(Communicator& c, RankMemory& m) {
  Ctx ctx(c, m, "all_to_all");
  const auto p = static_cast<std::size_t>(c.size());
  const auto r = static_cast<std::size_t>(c.rank());
  for (const std::size_t block :
       {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{256}, std::size_t{4099}}) {
    Buffer<std::byte> send(ctx, p * block), recv(ctx, p * block);
    // Block i of rank r's send is for rank i.
    const auto data = make<std::byte>(
        p * block, [&](std::size_t x) { return pattern(r, x / block, block, x % block); });
    send.set(data);
    c.all_to_all(send.bytes(), recv.span());
    const std::string what = fmt::format("all_to_all of blocks of {} bytes", block);
    // Block j of the receive came from rank j, which put it in its block r.
    expect_elements(ctx, what, recv.get(ctx, what),
                    [&](std::size_t x) { return pattern(x / block, r, block, x % block); });
    expect_unchanged(ctx, what, send, data);
    ctx.want.all_to_all += (p - 1) * block;
    ++ctx.want.calls;
    ctx.expect_traffic(what);
  }
}

void all_gather(Communicator& c, RankMemory& m) {
  Ctx ctx(c, m, "all_gather");
  const auto p = static_cast<std::size_t>(c.size());
  const auto r = static_cast<std::size_t>(c.rank());
  for (const std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000}, std::size_t{65537}}) {
    Buffer<std::byte> send(ctx, n), recv(ctx, p * n);
    const auto data = make<std::byte>(n, [&](std::size_t i) { return pattern(r, k_all, n, i); });
    send.set(data);
    c.all_gather(send.bytes(), recv.span());
    const std::string what = fmt::format("all_gather of {} bytes", n);
    expect_elements(ctx, what, recv.get(ctx, what),
                    [&](std::size_t x) { return pattern(x / n, k_all, n, x % n); });
    expect_unchanged(ctx, what, send, data);
    ctx.want.all_gather += (p - 1) * n;
    ++ctx.want.calls;
    ctx.expect_traffic(what);
  }
}

// Rank `rank`'s element i of an all_reduce_sum over n elements: a full
// mantissa and an exponent in [-20, 20], so sums in different orders round
// differently.
template <class T>
T reduce_value(int rank, std::size_t i, std::size_t n) {
  constexpr int digits = std::numeric_limits<T>::digits;
  const std::uint64_t h = key(static_cast<std::uint64_t>(rank), i, n, 0xF1);
  const T mantissa = std::ldexp(static_cast<T>(h >> (64 - digits)), -digits);  // [0, 1), exact
  const int exponent = static_cast<int>(key(h, 0, 0, 0) % 41) - 20;
  const T v = std::ldexp(T(1) + mantissa, exponent);
  return (h & 1) ? -v : v;
}

template <class T>
void all_reduce(Communicator& c, RankMemory& m, const char* name) {
  Ctx ctx(c, m, name);
  const int p = c.size();
  bool order_matters = false;
  for (const std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{17}, std::size_t{1000}, std::size_t{4097}}) {
    Buffer<T> data(ctx, n);
    data.set(make<T>(n, [&](std::size_t i) { return reduce_value<T>(c.rank(), i, n); }));
    c.all_reduce_sum(data.span());
    // The contract: ((x_0 + x_1) + x_2) + ... in T, the same on every rank.
    std::vector<T> want(n);
    for (std::size_t i = 0; i < n; ++i) {
      T acc = reduce_value<T>(0, i, n), backwards = reduce_value<T>(p - 1, i, n);
      for (int q = 1; q < p; ++q) acc += reduce_value<T>(q, i, n);
      for (int q = p - 2; q >= 0; --q) backwards += reduce_value<T>(q, i, n);
      want[i] = acc;
      order_matters = order_matters || std::memcmp(&acc, &backwards, sizeof(T)) != 0;
    }
    const std::string what = fmt::format("{} of {} elements", name, n);
    const std::vector<T> got = data.get(ctx, what);
    expect_elements(ctx, what + " (the rank-order sum)", got,
                    [&](std::size_t i) { return want[i]; });
    ctx.want.all_reduce += static_cast<std::uint64_t>(p - 1) * n * sizeof(T);
    ++ctx.want.calls;
    ctx.expect_traffic(what);

    // Bitwise identical on every rank: every rank's result against this one's.
    Buffer<T> everyone(ctx, static_cast<std::size_t>(p) * n);
    c.all_gather(data.span(), everyone.span());
    expect_elements(ctx, what + ": another rank's result", everyone.get(ctx, what),
                    [&](std::size_t x) { return got[x % n]; });
    ctx.want.all_gather += static_cast<std::uint64_t>(p - 1) * n * sizeof(T);
    ++ctx.want.calls;
    ctx.expect_traffic(what + " and the all_gather of the results");
  }
  if (p >= 3 && !order_matters) {
    ctx.fail(
        "the test values sum to the same bits in both rank orders, so they cannot tell a "
        "wrong order; change reduce_value");
  }
}

void all_reduce_float(Communicator& c, RankMemory& m) {
  all_reduce<float>(c, m, "all_reduce_float");
}
void all_reduce_double(Communicator& c, RankMemory& m) {
  all_reduce<double>(c, m, "all_reduce_double");
}

// No rank leaves a barrier before every rank has entered it. Ranks enter 10
// ms apart; the times are steady_clock (CLOCK_MONOTONIC: one clock for every
// thread and process of a machine).
void barrier(Communicator& c, RankMemory& m) {
  Ctx ctx(c, m, "barrier");
  const auto now = [] {
    return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now().time_since_epoch())
                                         .count());
  };
  const auto p = static_cast<std::size_t>(c.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(10 * c.rank()));
  const std::int64_t enter = now();
  c.barrier();
  const std::int64_t leave = now();
  ctx.expect_traffic("barrier (a barrier moves no payload and is not a counted call)");

  Buffer<std::int64_t> mine(ctx, 2), all(ctx, 2 * p);
  mine.set({enter, leave});
  c.all_gather(mine.span(), all.span());
  ctx.want.all_gather += (p - 1) * 2 * sizeof(std::int64_t);
  ++ctx.want.calls;
  const std::vector<std::int64_t> times = all.get(ctx, "barrier times");
  std::size_t last_in = 0, first_out = 0;
  for (std::size_t q = 0; q < p; ++q) {
    if (times[2 * q] > times[2 * last_in]) last_in = q;
    if (times[2 * q + 1] < times[2 * first_out + 1]) first_out = q;
  }
  if (times[2 * first_out + 1] < times[2 * last_in]) {
    ctx.fail(fmt::format("rank {} left the barrier {} us before rank {} entered it", first_out,
                         (times[2 * last_in] - times[2 * first_out + 1]) / 1000, last_in));
  }
  for (int k = 0; k < 50; ++k) c.barrier();  // the rendezvous is reusable
  ctx.expect_traffic("the all_gather of the times and 50 more barriers");
}

// The typed forms: sizes in elements, traffic in bytes.
void typed_helpers(Communicator& c, RankMemory& m) {
  Ctx ctx(c, m, "typed_helpers");
  const int p = c.size(), r = c.rank();
  const int dst = (r + 1) % p, src = (r - 1 + p) % p;
  const auto value = [](int from, std::size_t i) {
    return std::ldexp(static_cast<double>(key(static_cast<std::uint64_t>(from), i, 1, 2) >> 11),
                      -40);
  };
  Buffer<double> send(ctx, 33), recv(ctx, 33);
  send.set(make<double>(33, [&](std::size_t i) { return value(r, i); }));
  c.sendrecv(send.span(), dst, recv.span(), src);
  expect_elements(ctx, "sendrecv<double>", recv.get(ctx, "sendrecv<double>"),
                  [&](std::size_t i) { return value(src, i); });
  ctx.want.sendrecv += dst != r ? 33 * sizeof(double) : 0;
  ++ctx.want.calls;
  ctx.expect_traffic("sendrecv<double> of 33 elements");

  constexpr std::size_t block = 3;
  const auto word = [](int from, std::size_t to, std::size_t k) {
    return static_cast<std::int32_t>(key(static_cast<std::uint64_t>(from), to, k, 3));
  };
  const auto np = static_cast<std::size_t>(p);
  Buffer<std::int32_t> a2a_send(ctx, np * block), a2a_recv(ctx, np * block);
  a2a_send.set(
      make<std::int32_t>(np * block, [&](std::size_t x) { return word(r, x / block, x % block); }));
  c.all_to_all(a2a_send.span(), a2a_recv.span());
  expect_elements(
      ctx, "all_to_all<int32_t>", a2a_recv.get(ctx, "all_to_all<int32_t>"), [&](std::size_t x) {
        return word(static_cast<int>(x / block), static_cast<std::size_t>(r), x % block);
      });
  ctx.want.all_to_all += (np - 1) * block * sizeof(std::int32_t);
  ++ctx.want.calls;
  ctx.expect_traffic("all_to_all<int32_t> of blocks of 3 elements");

  const auto half = [](std::size_t from, std::size_t i) {
    return static_cast<std::uint16_t>(key(from, i, 5, 4));
  };
  Buffer<std::uint16_t> ag_send(ctx, 5), ag_recv(ctx, np * 5);
  ag_send.set(
      make<std::uint16_t>(5, [&](std::size_t i) { return half(static_cast<std::size_t>(r), i); }));
  c.all_gather(ag_send.span(), ag_recv.span());
  expect_elements(ctx, "all_gather<uint16_t>", ag_recv.get(ctx, "all_gather<uint16_t>"),
                  [&](std::size_t x) { return half(x / 5, x % 5); });
  ctx.want.all_gather += (np - 1) * 5 * sizeof(std::uint16_t);
  ++ctx.want.calls;
  ctx.expect_traffic("all_gather<uint16_t> of 5 elements");
}

// Every counter at once, total(), and reset_traffic().
void traffic_and_reset(Communicator& c, RankMemory& m) {
  Ctx ctx(c, m, "traffic_and_reset");
  const auto p = static_cast<std::uint64_t>(c.size());
  const int r = c.rank(), next = (r + 1) % c.size(), prev = (r - 1 + c.size()) % c.size();
  Buffer<std::byte> ring_send(ctx, 100), ring_recv(ctx, 100), self_send(ctx, 50),
      self_recv(ctx, 50);
  Buffer<std::byte> a2a_send(ctx, p * 7), a2a_recv(ctx, p * 7), ag_send(ctx, 9),
      ag_recv(ctx, p * 9);
  Buffer<float> floats(ctx, 5);
  Buffer<double> doubles(ctx, 3);
  floats.set({1, 2, 3, 4, 5});
  doubles.set({1, 2, 3});
  c.sendrecv(ring_send.bytes(), next, ring_recv.span(), prev);
  c.sendrecv(self_send.bytes(), r, self_recv.span(), r);
  c.all_to_all(a2a_send.bytes(), a2a_recv.span());
  c.all_gather(ag_send.bytes(), ag_recv.span());
  c.all_reduce_sum(floats.span());
  c.all_reduce_sum(doubles.span());
  c.barrier();
  ctx.want = {.sendrecv = next != r ? 100u : 0u,
              .all_to_all = (p - 1) * 7,
              .all_gather = (p - 1) * 9,
              .all_reduce = (p - 1) * (5 * sizeof(float) + 3 * sizeof(double)),
              .calls = 6};
  ctx.expect_traffic("one of each operation");
  const std::uint64_t total =
      ctx.want.sendrecv + ctx.want.all_to_all + ctx.want.all_gather + ctx.want.all_reduce;
  if (c.traffic().total() != total) {
    ctx.fail(fmt::format("Traffic::total() is {}, the four byte counters sum to {}",
                         c.traffic().total(), total));
  }
  c.reset_traffic();
  ctx.want = {};
  ctx.expect_traffic("reset_traffic()");
  c.barrier();
  ctx.expect_traffic("reset_traffic() and a barrier");
}

constexpr Check k_checks[] = {
    {"sendrecv_ring", sendrecv_ring},
    {"sendrecv_shifts", sendrecv_shifts},
    {"sendrecv_self", sendrecv_self},
    {"all_to_all", all_to_all},
    {"all_gather", all_gather},
    {"all_reduce_float", all_reduce_float},
    {"all_reduce_double", all_reduce_double},
    {"barrier", barrier},
    {"typed_helpers", typed_helpers},
    {"traffic_and_reset", traffic_and_reset},
};

}  // namespace

std::byte* HostMemory::allocate(std::size_t bytes) {
  blocks_.push_back(std::make_unique<std::byte[]>(bytes));
  return blocks_.back().get();
}

void HostMemory::upload(std::byte* dst, const std::byte* src, std::size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

void HostMemory::download(std::byte* dst, const std::byte* src, std::size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

std::span<const Check> checks() { return k_checks; }

}  // namespace attncheck::comm::test

// kernels/flash under simt's stricter modes: the race-check build (no two
// threads of a block touch the same shared-memory bytes between barriers, at
// least one writing) and random fiber orders (bitwise the same results as the
// deterministic order). Correctness against the reference is the property
// suite's job (properties/tests, implementation "flash").
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/flash/flash.hpp"
#include "kernels/simt/simt.hpp"
#include "kernels/simt/tests/simt_test_util.hpp"

namespace {

template <typename T>
using Dev = simt_test::DeviceBuffer<T>;

struct Outputs {
  std::vector<float> o, lse, dq, dk, dv;
};

// Three documents (one spanning several key and query tiles, one of length 0
// in q), padding between them, GQA 4/2, head dim 40 (a padded tile of 64,
// staged 64 keys at a time), causal + a window of 100.
Outputs run_flash(std::uint32_t seed) {
  const std::vector<int> cu_q{0, 150, 150, 155}, cu_kv{0, 150, 153, 160}, pad_q{0, 152, 154, 160},
      pad_kv{0, 151, 156, 164};
  const int total_q = 162, total_kv = 166, hq = 4, hkv = 2, d = 40;
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  auto random = [&](std::size_t count) {
    std::vector<float> v(count);
    for (float& x : v) x = n(rng);
    return v;
  };
  Dev<float> q(random(std::size_t(total_q) * hq * d)), k(random(std::size_t(total_kv) * hkv * d)),
      v(random(std::size_t(total_kv) * hkv * d)), dout(random(std::size_t(total_q) * hq * d));
  Dev<float> o(std::size_t(total_q) * hq * d), lse(std::size_t(total_q) * hq),
      dq(std::size_t(total_q) * hq * d), dk(std::size_t(total_kv) * hkv * d),
      dv(std::size_t(total_kv) * hkv * d), work(std::size_t(total_q) * hq);
  Dev<int> dcu_q(cu_q), dcu_kv(cu_kv), dpad_q(pad_q), dpad_kv(pad_kv);
  attncheck::flash::BwdParams p;
  p.q = q.ptr;
  p.k = k.ptr;
  p.v = v.ptr;
  p.o = o.ptr;
  p.lse = lse.ptr;
  p.dout = dout.ptr;
  p.dq = dq.ptr;
  p.dk = dk.ptr;
  p.dv = dv.ptr;
  p.workspace = work.ptr;
  p.cu_seqlens_q = dcu_q.ptr;
  p.cu_seqlens_kv = dcu_kv.ptr;
  p.cu_seqlens_q_padded = dpad_q.ptr;
  p.cu_seqlens_kv_padded = dpad_kv.ptr;
  p.batch = 3;
  p.total_q = total_q;
  p.total_kv = total_kv;
  p.heads_q = hq;
  p.heads_kv = hkv;
  p.head_dim = p.head_dim_v = d;
  p.max_seqlen_q = 150;
  p.max_seqlen_kv = 150;
  p.softmax_scale = 0.158f;
  p.mask = {/*causal=*/true, /*window_left=*/100, /*window_right=*/-1, /*chunk=*/0};
  p.dtype = attncheck::flash::Dtype::Float32;
  EXPECT_EQ(attncheck::flash::forward(p, nullptr), cudaSuccess) << simt::last_failure();
  EXPECT_TRUE(simt::last_races().empty()) << simt::last_races().front();
  EXPECT_EQ(attncheck::flash::backward(p, nullptr), cudaSuccess) << simt::last_failure();
  EXPECT_TRUE(simt::last_races().empty()) << simt::last_races().front();
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  return {o.host(), lse.host(), dq.host(), dk.host(), dv.host()};
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(FlashSimt, RandomFiberOrdersGiveTheSameBits) {
  const simt::Config saved = simt::config();
  const Outputs ref = run_flash(1);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    simt::Config c = saved;
    c.schedule = simt::Schedule::Random;
    c.seed = seed;
    simt::set_config(c);
    const Outputs r = run_flash(1);
    EXPECT_TRUE(same_bits(r.o, ref.o)) << "o, seed " << seed;
    EXPECT_TRUE(same_bits(r.lse, ref.lse)) << "lse, seed " << seed;
    EXPECT_TRUE(same_bits(r.dq, ref.dq)) << "dq, seed " << seed;
    EXPECT_TRUE(same_bits(r.dk, ref.dk)) << "dk, seed " << seed;
    EXPECT_TRUE(same_bits(r.dv, ref.dv)) << "dv, seed " << seed;
  }
  simt::set_config(saved);
}

#if defined(ATTNCHECK_FLASH_RACE_CHECK)
TEST(FlashSimt, NoSharedMemoryRaces) {
  ASSERT_TRUE(simt::race_check_enabled());
  run_flash(7);  // asserts no race report after forward and backward
}
#endif

}  // namespace

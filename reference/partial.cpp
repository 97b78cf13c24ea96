#include "reference/partial.hpp"

#include <Eigen/Dense>
#include <cmath>

#include "reference/mask.hpp"

namespace attncheck::reference {

namespace {
using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Mat rows_of(const std::vector<float>& x, int start, int len, int heads, int h, int width) {
  Mat m(len, width);
  for (int r = 0; r < len; ++r) {
    const float* row = x.data() + (std::size_t(start + r) * heads + h) * width;
    for (int c = 0; c < width; ++c) m(r, c) = row[c];
  }
  return m;
}

void add_rows(std::vector<double>& x, const Mat& m, int start, int heads, int h, int width) {
  for (int r = 0; r < m.rows(); ++r) {
    double* row = x.data() + (std::size_t(start + r) * heads + h) * width;
    for (int c = 0; c < width; ++c) row[c] += m(r, c);
  }
}
}  // namespace

Results<double> backward_given(const Batch& b, const Inputs& in, const std::vector<float>& out,
                               const std::vector<float>& lse) {
  b.validate();
  const int hq = b.num_heads_q, hkv = b.num_heads_kv, d = b.head_dim, dv = b.head_dim_v;
  const int group = b.group_size();
  Results<double> r;
  r.dq.assign(b.q_elems(), 0.0);
  r.dk.assign(b.k_elems(), 0.0);
  r.dv.assign(b.v_elems(), 0.0);
  for (int s = 0; s < b.num_seqs(); ++s) {
    const int lq = b.q_len(s), lk = b.kv_len(s), q0 = b.q_start(s), k0 = b.kv_start(s);
    if (lq == 0 || lk == 0) continue;
    for (int h = 0; h < hq; ++h) {
      const int g = h / group;
      const Mat q = rows_of(in.q, q0, lq, hq, h, d);
      const Mat k = rows_of(in.k, k0, lk, hkv, g, d);
      const Mat v = rows_of(in.v, k0, lk, hkv, g, dv);
      const Mat o = rows_of(out, q0, lq, hq, h, dv);
      const Mat dout = rows_of(in.dout, q0, lq, hq, h, dv);
      Mat p = (q * k.transpose()) * b.softmax_scale;
      for (int i = 0; i < lq; ++i) {
        const double l = lse[std::size_t(h) * b.total_q + std::size_t(q0 + i)];
        for (int j = 0; j < lk; ++j) {
          p(i, j) = (std::isinf(l) || !visible(b.mask, i, j, lq, lk)) ? 0.0 : std::exp(p(i, j) - l);
        }
      }
      const Eigen::VectorXd di = dout.cwiseProduct(o).rowwise().sum();
      const Mat ds = p.cwiseProduct((dout * v.transpose()).colwise() - di);
      add_rows(r.dq, (ds * k) * b.softmax_scale, q0, hq, h, d);
      add_rows(r.dk, (ds.transpose() * q) * b.softmax_scale, k0, hkv, g, d);
      add_rows(r.dv, p.transpose() * dout, k0, hkv, g, dv);
    }
  }
  return r;
}

}  // namespace attncheck::reference

#include "reference/attention.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "harness/error.hpp"
#include "reference/mask.hpp"

namespace attncheck::reference {

namespace {

template <typename S>
using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;  // rows contiguous: softmax is row-wise
template <typename S>
using Vec = Eigen::Matrix<S, Eigen::Dynamic, 1>;
using RowMap = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
                          0, Eigen::OuterStride<>>;

// Rows [start, start + len) of head h of a [T, H, width] tensor, as S.
template <typename S>
Mat<S> load(const std::vector<float>& x, int start, int len, int heads, int h, int width) {
  const float* base = x.data() + (std::size_t(start) * heads + h) * width;
  return RowMap(base, len, width, Eigen::OuterStride<>(heads * width)).template cast<S>();
}

// Write (or add) a [len, width] block into rows [start, start + len) of head h.
template <typename S>
void store(std::vector<S>& x, const Mat<S>& m, int start, int heads, int h, int width, bool add) {
  for (int r = 0; r < m.rows(); ++r) {
    S* row = x.data() + (std::size_t(start + r) * heads + h) * width;
    for (int c = 0; c < width; ++c) row[c] = add ? row[c] + m(r, c) : m(r, c);
  }
}

}  // namespace

template <typename S>
Results<S> attention_impl(const Batch& b, const Inputs& in, bool with_grads, Results<S>* mag,
                          Results<S>* rnd) {
  b.validate();
  validate_inputs(b, in);
  if (with_grads && in.dout.size() != b.o_elems()) {
    throw Error(ErrorKind::InvalidBatch, "do", -1, fmt::format("backward needs the output gradient dO with {} elements (total_q * Hq * Dv), got {}", b.o_elems(), in.dout.size()));
  }
  constexpr S k_neg_inf = -std::numeric_limits<S>::infinity();
  const S scale = S(b.softmax_scale);
  const int hq = b.num_heads_q, hkv = b.num_heads_kv, d = b.head_dim, dv = b.head_dim_v;
  const int group = b.group_size();

  Results<S> r;
  r.out.assign(b.o_elems(), S(0));
  r.lse.assign(b.lse_elems(), k_neg_inf);
  if (with_grads) {
    r.dq.assign(b.q_elems(), S(0));
    r.dk.assign(b.k_elems(), S(0));
    r.dv.assign(b.v_elems(), S(0));
  }
  if (mag) {
    mag->out.assign(b.o_elems(), S(0));
    mag->lse.assign(b.lse_elems(), S(0));
    mag->dq.assign(with_grads ? b.q_elems() : 0, S(0));
    mag->dk.assign(with_grads ? b.k_elems() : 0, S(0));
    mag->dv.assign(with_grads ? b.v_elems() : 0, S(0));
    *rnd = *mag;
  }

  for (int seq = 0; seq < b.num_seqs(); ++seq) {
    const int lq = b.q_len(seq), lk = b.kv_len(seq);
    const int q0 = b.q_start(seq), k0 = b.kv_start(seq);
    if (lq == 0 || lk == 0) continue;  // every query sees no key: O = 0, LSE = -inf

    // Additive mask: 0 where visible, -inf where not; `keep` the same as 1/0;
    // rows that see no key.
    Mat<S> bias(lq, lk), keep(lq, lk);
    Eigen::Array<bool, Eigen::Dynamic, 1> row_sees(lq);
    for (int i = 0; i < lq; ++i) {
      bool any = false;
      for (int j = 0; j < lk; ++j) {
        const bool vis = visible(b.mask, i, j, lq, lk);
        bias(i, j) = vis ? S(0) : k_neg_inf;
        keep(i, j) = vis ? S(1) : S(0);
        any = any || vis;
      }
      row_sees(i) = any;
    }

    for (int g = 0; g < hkv; ++g) {
      const Mat<S> k = load<S>(in.k, k0, lk, hkv, g, d);
      const Mat<S> v = load<S>(in.v, k0, lk, hkv, g, dv);
      Mat<S> dk_acc, dv_acc, dk_mag, dv_mag, dk_rnd, dv_rnd;
      if (with_grads) {
        dk_acc = Mat<S>::Zero(lk, d);
        dv_acc = Mat<S>::Zero(lk, dv);
        dk_mag = Mat<S>::Zero(lk, d);
        dv_mag = Mat<S>::Zero(lk, dv);
        if (mag) {
          dk_rnd = Mat<S>::Zero(lk, d);
          dv_rnd = Mat<S>::Zero(lk, dv);
        }
      }
      for (int h = g * group; h < (g + 1) * group; ++h) {
        const Mat<S> q = load<S>(in.q, q0, lq, hq, h, d);
        // S = scale * Q K^T + bias
        Mat<S> p = (q * k.transpose()) * scale;
        p += bias;
        Vec<S> lse(lq);
        for (int i = 0; i < lq; ++i) {
          if (!row_sees(i)) {
            // Every key masked: the row max is -inf; avoid exp(-inf - -inf) = NaN.
            p.row(i).setZero();
            lse(i) = k_neg_inf;
            continue;
          }
          const S m = p.row(i).maxCoeff();
          // Eigen's vectorized exp clamps its argument, so exp(-inf) comes out as
          // ~1e-308 (double) or ~1e-38 (float), not 0: zero masked keys exactly.
          p.row(i) = (p.row(i).array() - m).exp().matrix().cwiseProduct(keep.row(i));
          const S l = p.row(i).sum();
          p.row(i) /= l;
          lse(i) = m + std::log(l);
        }
        const Mat<S> o = p * v;  // O = P V
        store(r.out, o, q0, hq, h, dv, /*add=*/false);
        for (int i = 0; i < lq; ++i) r.lse[std::size_t(h) * b.total_q + q0 + i] = lse(i);
        // Softmax sensitivity: a float32 score s carries an error of order
        // eps * |s|_abs (|s|_abs = scale |Q| |K|^T), which P inherits relatively.
        Mat<S> w;  // W = P (1 + |s|_abs)
        if (mag) {
          w = p.cwiseProduct(((q.cwiseAbs() * k.cwiseAbs().transpose()) * scale).array().matrix() +
                             Mat<S>::Ones(lq, lk));
          const Mat<S> out_mag = w * v.cwiseAbs() +
                                 ((w - p).rowwise().sum().asDiagonal() * o.cwiseAbs());
          store(mag->out, out_mag, q0, hq, h, dv, /*add=*/false);
          store(rnd->out, Mat<S>(p * v.cwiseAbs()), q0, hq, h, dv, /*add=*/false);
          const Vec<S> sabs = (w - p).rowwise().maxCoeff();
          for (int i = 0; i < lq; ++i) {
            mag->lse[std::size_t(h) * b.total_q + q0 + i] =
                row_sees(i) ? std::abs(lse(i)) + sabs(i) : S(0);
          }
        }

        if (!with_grads) continue;
        // dP = dO V^T;  Di = rowsum(dO * O);  dS = P * (dP - Di)
        // dQ = scale dS K;  dK += scale dS^T Q;  dV += P^T dO
        const Mat<S> dout = load<S>(in.dout, q0, lq, hq, h, dv);
        const Vec<S> di = dout.cwiseProduct(o).rowwise().sum();
        Mat<S> ds = dout * v.transpose();
        ds.colwise() -= di;
        ds = ds.cwiseProduct(p);
        const Mat<S> dq = (ds * k) * scale;
        store(r.dq, dq, q0, hq, h, d, /*add=*/false);
        dk_acc.noalias() += (ds.transpose() * q) * scale;
        dv_acc.noalias() += p.transpose() * dout;
        if (mag) {
          // The same products on magnitudes: |dS| <= W (|dO| |V|^T + |Di|).
          const Mat<S> dout_abs = dout.cwiseAbs();
          Mat<S> ds_abs = dout_abs * v.cwiseAbs().transpose();
          ds_abs.colwise() += dout_abs.cwiseProduct(o.cwiseAbs()).rowwise().sum();
          const Mat<S> ds_rnd = ds_abs.cwiseProduct(p);
          ds_abs = ds_abs.cwiseProduct(w);
          const Mat<S> k_abs = k.cwiseAbs(), q_abs = q.cwiseAbs();
          store(mag->dq, Mat<S>((ds_abs * k_abs) * scale), q0, hq, h, d, /*add=*/false);
          dk_mag.noalias() += (ds_abs.transpose() * q_abs) * scale;
          dv_mag.noalias() += w.transpose() * dout_abs;
          store(rnd->dq, Mat<S>((ds_rnd * k_abs) * scale), q0, hq, h, d, /*add=*/false);
          dk_rnd.noalias() += (ds_rnd.transpose() * q_abs) * scale;
          dv_rnd.noalias() += p.transpose() * dout_abs;
        }
      }
      if (with_grads) {
        store(r.dk, dk_acc, k0, hkv, g, d, /*add=*/false);
        store(r.dv, dv_acc, k0, hkv, g, dv, /*add=*/false);
        if (mag) {
          store(mag->dk, dk_mag, k0, hkv, g, d, /*add=*/false);
          store(mag->dv, dv_mag, k0, hkv, g, dv, /*add=*/false);
          store(rnd->dk, dk_rnd, k0, hkv, g, d, /*add=*/false);
          store(rnd->dv, dv_rnd, k0, hkv, g, dv, /*add=*/false);
        }
      }
    }
  }
  return r;
}

template <typename S>
Results<S> attention(const Batch& b, const Inputs& in, bool with_grads) {
  return attention_impl<S>(b, in, with_grads, nullptr, nullptr);
}

Oracle oracle(const Batch& b, const Inputs& in, bool with_grads) {
  Oracle o;
  o.value = attention_impl<double>(b, in, with_grads, &o.magnitude.terms, &o.magnitude.rounded);
  return o;
}

template Results<double> attention<double>(const Batch&, const Inputs&, bool);
template Results<float> attention<float>(const Batch&, const Inputs&, bool);

}  // namespace attncheck::reference

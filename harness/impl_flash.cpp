// The registry entries of kernels/flash: host float32 values converted to the
// storage dtype, device buffers, forward (+ backward), results converted back.
// Compiled twice: for simt (the CPU) and with ATTNCHECK_NATIVE_CUDA against
// libcudart (device "cuda").
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "harness/compare.hpp"
#include "harness/error.hpp"
#include "harness/impl_flash.hpp"
#include "kernels/flash/flash.hpp"
#if !defined(ATTNCHECK_NATIVE_CUDA)
#include "kernels/simt/simt.hpp"
#endif

#if defined(ATTNCHECK_NATIVE_CUDA)
#define ATTNCHECK_IMPL_BACKEND cuda_backend
#else
#define ATTNCHECK_IMPL_BACKEND simt_backend
#endif

namespace attncheck::ATTNCHECK_IMPL_BACKEND {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
#if defined(ATTNCHECK_NATIVE_CUDA)
    const std::string detail;
#else
    const std::string failure = simt::last_failure();
    const std::string detail = failure.empty() ? std::string() : ": " + failure;
#endif
    throw Error(ErrorKind::Unsupported, "flash", -1,
                fmt::format("{} failed: {} ({}){}", what, cudaGetErrorString(e), cudaGetErrorName(e),
                            detail));
  }
}

// A device buffer freed on scope exit.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes) check(cudaMalloc(&p_, bytes), "cudaMalloc");
  }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(o.bytes_) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  void* get() const { return p_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

std::size_t elem_bytes(DType t) { return t == DType::Float32 ? 4 : 2; }

// Host float32 values -> storage bytes (exact: values are representable).
std::vector<unsigned char> encode(const std::vector<float>& x, DType t) {
  std::vector<unsigned char> out(x.size() * elem_bytes(t));
  for (std::size_t i = 0; i < x.size(); ++i) {
    switch (t) {
      case DType::Float32: std::memcpy(&out[i * 4], &x[i], 4); break;
      case DType::BFloat16: {
        const __nv_bfloat16 b = __float2bfloat16_rn(x[i]);
        std::memcpy(&out[i * 2], &b, 2);
        break;
      }
      case DType::Float16: {
        const __half h = __float2half_rn(x[i]);
        std::memcpy(&out[i * 2], &h, 2);
        break;
      }
    }
  }
  return out;
}

// Storage bytes -> float32; elements still holding the fill pattern (all bits
// set: never produced by a kernel's arithmetic) become the harness's output
// poison, so P6 sees them as unwritten.
void decode(const std::vector<unsigned char>& in, DType t, std::vector<float>& out) {
  const std::size_t eb = elem_bytes(t);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const unsigned char* b = &in[i * eb];
    if (std::all_of(b, b + eb, [](unsigned char c) { return c == 0xFF; })) {
      out[i] = output_poison();
      continue;
    }
    switch (t) {
      case DType::Float32: std::memcpy(&out[i], b, 4); break;
      case DType::BFloat16: {
        __nv_bfloat16 v;
        std::memcpy(&v, b, 2);
        out[i] = __bfloat162float(v);
        break;
      }
      case DType::Float16: {
        __half v;
        std::memcpy(&v, b, 2);
        out[i] = __half2float(v);
        break;
      }
    }
  }
}

template <typename V>
DeviceBuffer upload(const std::vector<V>& host) {
  DeviceBuffer d(host.size() * sizeof(V));
  if (d.bytes()) check(cudaMemcpy(d.get(), host.data(), d.bytes(), cudaMemcpyHostToDevice), "cudaMemcpy");
  return d;
}

DeviceBuffer filled(std::size_t bytes) {
  DeviceBuffer d(bytes);
  if (bytes) check(cudaMemset(d.get(), 0xFF, bytes), "cudaMemset");
  return d;
}

std::vector<unsigned char> download(const DeviceBuffer& d) {
  std::vector<unsigned char> host(d.bytes());
  if (d.bytes()) check(cudaMemcpy(host.data(), d.get(), d.bytes(), cudaMemcpyDeviceToHost), "cudaMemcpy");
  return host;
}

flash::Dtype to_flash(DType t) {
  switch (t) {
    case DType::Float32: return flash::Dtype::Float32;
    case DType::BFloat16: return flash::Dtype::BFloat16;
    case DType::Float16: return flash::Dtype::Float16;
  }
  return flash::Dtype::Float32;
}

}  // namespace

#if defined(ATTNCHECK_NATIVE_CUDA)
std::string device_unavailable() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return fmt::format("no CUDA device ({})", cudaGetErrorString(e));
  if (count == 0) return "no CUDA device";
  return {};
}
#endif

namespace {

// A case's inputs and metadata on the device, with the kernels' parameters.
struct DeviceCase {
  DeviceBuffer q, k, v, cu_q, cu_kv, cu_q_pad, cu_kv_pad;
  flash::BwdParams p;

  DeviceCase(const Batch& b, const Inputs& in)
      : q(upload(encode(in.q, b.dtype))),
        k(upload(encode(in.k, b.dtype))),
        v(upload(encode(in.v, b.dtype))),
        cu_q(upload(b.cu_seqlens_q)),
        cu_kv(upload(b.cu_seqlens_kv)),
        cu_q_pad(upload(b.cu_seqlens_q_padded ? *b.cu_seqlens_q_padded : std::vector<std::int32_t>{})),
        cu_kv_pad(upload(b.cu_seqlens_kv_padded ? *b.cu_seqlens_kv_padded : std::vector<std::int32_t>{})) {
    p.q = q.get();
    p.k = k.get();
    p.v = v.get();
    p.cu_seqlens_q = static_cast<const int*>(cu_q.get());
    p.cu_seqlens_kv = static_cast<const int*>(cu_kv.get());
    p.cu_seqlens_q_padded = static_cast<const int*>(cu_q_pad.get());
    p.cu_seqlens_kv_padded = static_cast<const int*>(cu_kv_pad.get());
    p.batch = b.num_seqs();
    p.total_q = b.total_q;
    p.total_kv = b.total_kv;
    p.heads_q = b.num_heads_q;
    p.heads_kv = b.num_heads_kv;
    p.head_dim = b.head_dim;
    p.head_dim_v = b.head_dim_v;
    for (int i = 0; i < b.num_seqs(); ++i) {
      p.max_seqlen_q = std::max(p.max_seqlen_q, b.q_len(i));
      p.max_seqlen_kv = std::max(p.max_seqlen_kv, b.kv_len(i));
    }
    p.softmax_scale = float(b.softmax_scale);
    p.mask = {b.mask.causal, b.mask.window_left, b.mask.window_right, b.mask.chunk_size};
    p.dtype = to_flash(b.dtype);
  }
};

// Backward with O (in the storage dtype) and LSE already on the device.
void backward_on_device(const Batch& b, const Inputs& in, DeviceCase& dc, std::vector<float>& dq,
                        std::vector<float>& dk, std::vector<float>& dv, FlashKernels kernels) {
  const DType t = b.dtype;
  const std::size_t eb = elem_bytes(t);
  const DeviceBuffer dout = upload(encode(in.dout, t));
  const DeviceBuffer ddq = filled(b.q_elems() * eb);
  const DeviceBuffer ddk = filled(b.k_elems() * eb);
  const DeviceBuffer ddv = filled(b.v_elems() * eb);
  const DeviceBuffer work = filled(b.lse_elems() * 4);
  dc.p.dout = dout.get();
  dc.p.dq = ddq.get();
  dc.p.dk = ddk.get();
  dc.p.dv = ddv.get();
  dc.p.workspace = static_cast<float*>(work.get());
  if (kernels == FlashKernels::TensorCore) {
    check(flash::tc_backward(dc.p, nullptr), "flash::tc_backward");
  } else {
    check(flash::backward(dc.p, nullptr), "flash::backward");
  }
  check(cudaDeviceSynchronize(), "flash backward");
  dq.resize(b.q_elems());
  dk.resize(b.k_elems());
  dv.resize(b.v_elems());
  decode(download(ddq), t, dq);
  decode(download(ddk), t, dk);
  decode(download(ddv), t, dv);
}

}  // namespace

void run_flash(const Case& c, bool grads, Results<float>& out, FlashKernels kernels) {
  const Batch& b = c.batch;
  const DType t = b.dtype;
  DeviceCase dc(b, c.inputs);
  const DeviceBuffer o = filled(b.o_elems() * elem_bytes(t));
  const DeviceBuffer lse = filled(b.lse_elems() * 4);
  dc.p.o = o.get();
  dc.p.lse = static_cast<float*>(lse.get());
  if (kernels == FlashKernels::TensorCore) {
    if (const auto why = flash_tc_refusal(b)) throw Error(ErrorKind::Unsupported, "flash-tc", -1, *why);
    check(flash::tc_forward(dc.p, nullptr), "flash::tc_forward");
  } else {
    check(flash::forward(dc.p, nullptr), "flash::forward");
  }
  check(cudaDeviceSynchronize(), "flash forward");
  decode(download(o), t, out.out);
  decode(download(lse), DType::Float32, out.lse);  // LSE is float32 whatever the dtype
  if (!grads) return;
  backward_on_device(b, c.inputs, dc, out.dq, out.dk, out.dv, kernels);
}

void flash_forward(const Batch& b, const Inputs& in, std::vector<float>& out,
                   std::vector<float>& lse, FlashKernels kernels) {
  Results<float> r;
  r.out.assign(b.o_elems(), 0.0f);
  r.lse.assign(b.lse_elems(), 0.0f);
  run_flash(Case{b, in, 0}, false, r, kernels);
  out = std::move(r.out);
  lse = std::move(r.lse);
}

void flash_backward_given(const Batch& b, const Inputs& in, const std::vector<float>& out,
                          const std::vector<float>& lse, std::vector<float>& dq,
                          std::vector<float>& dk, std::vector<float>& dv, FlashKernels kernels) {
  if (kernels == FlashKernels::TensorCore) {
    if (const auto why = flash_tc_refusal(b)) throw Error(ErrorKind::Unsupported, "flash-tc", -1, *why);
  }
  DeviceCase dc(b, in);
  // O as the kernels store it (the storage dtype; exact for values that came
  // from a kernel), LSE in float32.
  std::vector<float> o_rounded = out;
  round_to(b.dtype, o_rounded);
  const DeviceBuffer o = upload(encode(o_rounded, b.dtype));
  const DeviceBuffer l = upload(lse);
  dc.p.o = const_cast<void*>(o.get());
  dc.p.lse = static_cast<float*>(l.get());
  backward_on_device(b, in, dc, dq, dk, dv, kernels);
}

}  // namespace attncheck::ATTNCHECK_IMPL_BACKEND

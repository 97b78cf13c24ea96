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

#if defined(ATTNCHECK_NATIVE_CUDA)
#define ATTNCHECK_IMPL_BACKEND cuda_backend
#else
#define ATTNCHECK_IMPL_BACKEND simt_backend
#endif

namespace attncheck::ATTNCHECK_IMPL_BACKEND {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    throw Error(ErrorKind::Unsupported, "flash", -1,
                fmt::format("{} failed: {} ({})", what, cudaGetErrorString(e), cudaGetErrorName(e)));
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

void run_flash(const Case& c, bool grads, Results<float>& out) {
  const Batch& b = c.batch;
  const DType t = b.dtype;
  const std::size_t eb = elem_bytes(t);
  const DeviceBuffer q = upload(encode(c.inputs.q, t));
  const DeviceBuffer k = upload(encode(c.inputs.k, t));
  const DeviceBuffer v = upload(encode(c.inputs.v, t));
  const DeviceBuffer cu_q = upload(b.cu_seqlens_q);
  const DeviceBuffer cu_kv = upload(b.cu_seqlens_kv);
  const std::vector<std::int32_t> none;
  const DeviceBuffer cu_q_pad = upload(b.cu_seqlens_q_padded ? *b.cu_seqlens_q_padded : none);
  const DeviceBuffer cu_kv_pad = upload(b.cu_seqlens_kv_padded ? *b.cu_seqlens_kv_padded : none);
  const DeviceBuffer o = filled(b.o_elems() * eb);
  const DeviceBuffer lse = filled(b.lse_elems() * 4);

  flash::BwdParams p;
  p.q = q.get();
  p.k = k.get();
  p.v = v.get();
  p.o = o.get();
  p.lse = static_cast<float*>(lse.get());
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
  p.dtype = to_flash(t);
  check(flash::forward(p, nullptr), "flash::forward");
  check(cudaDeviceSynchronize(), "flash::forward");
  decode(download(o), t, out.out);
  {
    const auto bytes = download(lse);
    decode(bytes, DType::Float32, out.lse);  // LSE is float32 whatever the dtype
  }
  if (!grads) return;
  const DeviceBuffer dout = upload(encode(c.inputs.dout, t));
  const DeviceBuffer dq = filled(b.q_elems() * eb);
  const DeviceBuffer dk = filled(b.k_elems() * eb);
  const DeviceBuffer dv = filled(b.v_elems() * eb);
  const DeviceBuffer work = filled(b.lse_elems() * 4);
  p.dout = dout.get();
  p.dq = dq.get();
  p.dk = dk.get();
  p.dv = dv.get();
  p.workspace = static_cast<float*>(work.get());
  check(flash::backward(p, nullptr), "flash::backward");
  check(cudaDeviceSynchronize(), "flash::backward");
  decode(download(dq), t, out.dq);
  decode(download(dk), t, out.dk);
  decode(download(dv), t, out.dv);
}

}  // namespace attncheck::ATTNCHECK_IMPL_BACKEND

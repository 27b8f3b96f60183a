// Torch glue for hashgrid.cu: checks tensors, allocates outputs, passes raw
// pointers and the current CUDA stream to the launchers.
//
// Explained in notebooks/02_hash_encoding.ipynb.
#include <torch/extension.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

// Defined in hashgrid.cu (C++ linkage, so a signature drift fails at import instead of corrupting memory).
cudaError_t talkface_hashgrid_forward(const float* x, const void* table, void* out, uint32_t n_points, int n_dims,
                                      int n_features, int table_is_half, int n_levels, const uint32_t* offsets,
                                      const uint32_t* sizes, const uint32_t* resolutions, const float* scales,
                                      bool smoothstep, cudaStream_t stream);
cudaError_t talkface_hashgrid_backward(const float* x, const void* table, const void* grad_out, float* grad_table,
                                       float* grad_x, uint32_t n_points, int n_dims, int n_features,
                                       int table_is_half, int n_levels, const uint32_t* offsets, const uint32_t* sizes,
                                       const uint32_t* resolutions, const float* scales, bool smoothstep,
                                       cudaStream_t stream);

namespace {

constexpr int64_t kMaxLevels = 32;

struct Meta {
  std::vector<uint32_t> offsets, sizes, resolutions;
  std::vector<float> scales;
};

Meta make_meta(const std::vector<int64_t>& offsets, const std::vector<int64_t>& sizes,
               const std::vector<int64_t>& resolutions, const std::vector<double>& scales) {
  const size_t n = offsets.size();
  TORCH_CHECK(n >= 1 && static_cast<int64_t>(n) <= kMaxLevels, "hashgrid: 1..32 levels supported, got ", n);
  TORCH_CHECK(sizes.size() == n && resolutions.size() == n && scales.size() == n,
              "hashgrid: per-level lists must have the same length");
  Meta m;
  for (size_t l = 0; l < n; ++l) {
    TORCH_CHECK(offsets[l] >= 0 && offsets[l] < (int64_t(1) << 32), "hashgrid: level offset out of uint32 range");
    TORCH_CHECK(sizes[l] > 0 && sizes[l] < (int64_t(1) << 32), "hashgrid: level size out of uint32 range");
    m.offsets.push_back(static_cast<uint32_t>(offsets[l]));
    m.sizes.push_back(static_cast<uint32_t>(sizes[l]));
    m.resolutions.push_back(static_cast<uint32_t>(resolutions[l]));
    m.scales.push_back(static_cast<float>(scales[l]));  // exact: the host computed them in float32
  }
  return m;
}

void check_inputs(const torch::Tensor& x, const torch::Tensor& table, const Meta& meta) {
  TORCH_CHECK(x.is_cuda() && table.is_cuda(), "hashgrid: x and table must be CUDA tensors");
  TORCH_CHECK(x.device() == table.device(), "hashgrid: x and table must be on the same device");
  TORCH_CHECK(x.scalar_type() == torch::kFloat32, "hashgrid: x must be float32");
  TORCH_CHECK(x.dim() == 2 && (x.size(1) == 2 || x.size(1) == 3), "hashgrid: x must be (N, 2) or (N, 3)");
  TORCH_CHECK(x.size(0) < (int64_t(1) << 32), "hashgrid: at most 2^32 - 1 points per call");
  TORCH_CHECK(table.scalar_type() == torch::kFloat32 || table.scalar_type() == torch::kFloat16,
              "hashgrid: table must be float32 or float16");
  TORCH_CHECK(table.dim() == 2, "hashgrid: table must be (rows, F)");
  const int64_t f = table.size(1);
  TORCH_CHECK(f == 1 || f == 2 || f == 4 || f == 8, "hashgrid: F must be 1, 2, 4 or 8, got ", f);
  TORCH_CHECK(x.is_contiguous() && table.is_contiguous(), "hashgrid: x and table must be contiguous");
  const int64_t rows = static_cast<int64_t>(meta.offsets.back()) + meta.sizes.back();
  TORCH_CHECK(table.size(0) == rows, "hashgrid: table has ", table.size(0), " rows, the levels need ", rows);
}

torch::Tensor forward(torch::Tensor x, torch::Tensor table, std::vector<int64_t> offsets, std::vector<int64_t> sizes,
                      std::vector<int64_t> resolutions, std::vector<double> scales, bool smoothstep) {
  const Meta meta = make_meta(offsets, sizes, resolutions, scales);
  check_inputs(x, table, meta);
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t n = x.size(0), L = static_cast<int64_t>(meta.offsets.size()), F = table.size(1);
  torch::Tensor out = torch::empty({n, L * F}, table.options());
  const cudaError_t err = talkface_hashgrid_forward(
      x.data_ptr<float>(), table.data_ptr(), out.data_ptr(), static_cast<uint32_t>(n), static_cast<int>(x.size(1)),
      static_cast<int>(F), table.scalar_type() == torch::kFloat16 ? 1 : 0, static_cast<int>(L), meta.offsets.data(),
      meta.sizes.data(), meta.resolutions.data(), meta.scales.data(), smoothstep,
      c10::cuda::getCurrentCUDAStream().stream());
  TORCH_CHECK(err == cudaSuccess, "hashgrid forward launch failed: ", cudaGetErrorString(err));
  return out;
}

std::vector<torch::Tensor> backward(torch::Tensor grad_out, torch::Tensor x, torch::Tensor table,
                                    std::vector<int64_t> offsets, std::vector<int64_t> sizes,
                                    std::vector<int64_t> resolutions, std::vector<double> scales, bool smoothstep,
                                    bool need_x) {
  const Meta meta = make_meta(offsets, sizes, resolutions, scales);
  check_inputs(x, table, meta);
  const int64_t n = x.size(0), L = static_cast<int64_t>(meta.offsets.size()), F = table.size(1);
  TORCH_CHECK(grad_out.is_cuda() && grad_out.scalar_type() == table.scalar_type() && grad_out.is_contiguous(),
              "hashgrid: grad_out must be a contiguous CUDA tensor of the table dtype");
  TORCH_CHECK(grad_out.dim() == 2 && grad_out.size(0) == n && grad_out.size(1) == L * F,
              "hashgrid: grad_out must be (N, L * F)");
  const c10::cuda::CUDAGuard guard(x.device());
  auto f32 = x.options().dtype(torch::kFloat32);
  torch::Tensor grad_table = torch::zeros({table.size(0), F}, f32);
  torch::Tensor grad_x = need_x ? torch::zeros({n, x.size(1)}, f32) : torch::empty({0}, f32);
  const cudaError_t err = talkface_hashgrid_backward(
      x.data_ptr<float>(), table.data_ptr(), grad_out.data_ptr(), grad_table.data_ptr<float>(),
      need_x ? grad_x.data_ptr<float>() : nullptr, static_cast<uint32_t>(n), static_cast<int>(x.size(1)),
      static_cast<int>(F), table.scalar_type() == torch::kFloat16 ? 1 : 0, static_cast<int>(L), meta.offsets.data(),
      meta.sizes.data(), meta.resolutions.data(), meta.scales.data(), smoothstep,
      c10::cuda::getCurrentCUDAStream().stream());
  TORCH_CHECK(err == cudaSuccess, "hashgrid backward launch failed: ", cudaGetErrorString(err));
  return {grad_table, grad_x};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "talkface_lite multiresolution hash encoding (CUDA)";
  m.def("forward", &forward, "hash encoding forward: (x, table, offsets, sizes, resolutions, scales, smoothstep) -> out");
  m.def("backward", &backward,
        "hash encoding backward: (grad_out, x, table, offsets, sizes, resolutions, scales, smoothstep, need_x) "
        "-> [grad_table float32, grad_x float32]");
}

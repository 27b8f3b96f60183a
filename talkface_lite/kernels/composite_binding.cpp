// Torch glue for composite.cu: checks tensors, allocates outputs, passes raw
// pointers and the current CUDA stream to the extern "C" launchers.
// Explained in notebooks/01_volume_rendering.ipynb.
#include <torch/extension.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime.h>

#include <vector>

extern "C" cudaError_t composite_packed_forward_launch(
    const float* sigmas, const float* rgbs, const float* deltas, const float* ts, const int64_t* starts,
    const int64_t* counts, int64_t n_rays, float* weights, float* trans, float* rgb_out, float* depth_out,
    float* opacity_out, cudaStream_t stream);

extern "C" cudaError_t composite_packed_backward_launch(
    const float* grad_weights, const float* grad_trans, const float* grad_rgb, const float* grad_depth,
    const float* grad_opacity, const float* sigmas, const float* rgbs, const float* deltas, const float* ts,
    const float* weights, const float* trans, const int64_t* starts, const int64_t* counts, int64_t n_rays,
    float* grad_sigmas, float* grad_rgbs, float* grad_deltas, float* grad_ts, cudaStream_t stream);

namespace {

void check(const torch::Tensor& t, const char* name, torch::ScalarType dtype, int64_t dim0) {
  TORCH_CHECK(t.is_cuda(), name, " must be a CUDA tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == dtype, name, " has dtype ", t.scalar_type(), ", expected ", dtype,
              " (the kernel is fp32; cast with .float())");
  TORCH_CHECK(t.size(0) == dim0, name, " has leading size ", t.size(0), ", expected ", dim0);
}

void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, what, " failed: ", cudaGetErrorString(err));
}

}  // namespace

std::vector<torch::Tensor> forward(torch::Tensor sigmas, torch::Tensor rgbs, torch::Tensor deltas, torch::Tensor ts,
                                   torch::Tensor starts, torch::Tensor counts) {
  const int64_t n = sigmas.size(0);
  const int64_t n_rays = starts.size(0);
  check(sigmas, "sigmas", torch::kFloat32, n);
  check(rgbs, "rgbs", torch::kFloat32, n);
  TORCH_CHECK(rgbs.dim() == 2 && rgbs.size(1) == 3, "rgbs must be (n, 3)");
  check(deltas, "deltas", torch::kFloat32, n);
  check(ts, "ts", torch::kFloat32, n);
  check(starts, "starts", torch::kInt64, n_rays);
  check(counts, "counts", torch::kInt64, n_rays);
  const c10::cuda::CUDAGuard guard(sigmas.device());
  auto weights = torch::empty_like(sigmas);
  auto trans = torch::empty_like(sigmas);
  auto rgb = torch::empty({n_rays, 3}, sigmas.options());
  auto depth = torch::empty({n_rays}, sigmas.options());
  auto opacity = torch::empty({n_rays}, sigmas.options());
  check_launch(composite_packed_forward_launch(
                   sigmas.data_ptr<float>(), rgbs.data_ptr<float>(), deltas.data_ptr<float>(), ts.data_ptr<float>(),
                   starts.data_ptr<int64_t>(), counts.data_ptr<int64_t>(), n_rays, weights.data_ptr<float>(),
                   trans.data_ptr<float>(), rgb.data_ptr<float>(), depth.data_ptr<float>(), opacity.data_ptr<float>(),
                   c10::cuda::getCurrentCUDAStream().stream()),
               "composite forward");
  return {rgb, depth, opacity, weights, trans};
}

std::vector<torch::Tensor> backward(torch::Tensor grad_weights, torch::Tensor grad_trans, torch::Tensor grad_rgb,
                                    torch::Tensor grad_depth, torch::Tensor grad_opacity, torch::Tensor sigmas,
                                    torch::Tensor rgbs, torch::Tensor deltas, torch::Tensor ts, torch::Tensor weights,
                                    torch::Tensor trans, torch::Tensor starts, torch::Tensor counts) {
  const int64_t n = sigmas.size(0);
  const int64_t n_rays = starts.size(0);
  check(grad_weights, "grad_weights", torch::kFloat32, n);
  check(grad_trans, "grad_trans", torch::kFloat32, n);
  check(grad_rgb, "grad_rgb", torch::kFloat32, n_rays);
  check(grad_depth, "grad_depth", torch::kFloat32, n_rays);
  check(grad_opacity, "grad_opacity", torch::kFloat32, n_rays);
  check(weights, "weights", torch::kFloat32, n);
  check(trans, "trans", torch::kFloat32, n);
  const c10::cuda::CUDAGuard guard(sigmas.device());
  auto grad_sigmas = torch::empty_like(sigmas);
  auto grad_rgbs = torch::empty_like(rgbs);
  auto grad_deltas = torch::empty_like(deltas);
  auto grad_ts = torch::empty_like(ts);
  check_launch(composite_packed_backward_launch(
                   grad_weights.data_ptr<float>(), grad_trans.data_ptr<float>(), grad_rgb.data_ptr<float>(),
                   grad_depth.data_ptr<float>(), grad_opacity.data_ptr<float>(), sigmas.data_ptr<float>(),
                   rgbs.data_ptr<float>(), deltas.data_ptr<float>(), ts.data_ptr<float>(), weights.data_ptr<float>(),
                   trans.data_ptr<float>(), starts.data_ptr<int64_t>(), counts.data_ptr<int64_t>(), n_rays,
                   grad_sigmas.data_ptr<float>(), grad_rgbs.data_ptr<float>(), grad_deltas.data_ptr<float>(),
                   grad_ts.data_ptr<float>(), c10::cuda::getCurrentCUDAStream().stream()),
               "composite backward");
  return {grad_sigmas, grad_rgbs, grad_deltas, grad_ts};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "packed alpha compositing forward (CUDA, fp32)");
  m.def("backward", &backward, "packed alpha compositing backward (CUDA, fp32)");
}

// Torch glue for composite_cpu.cpp: checks tensors, allocates outputs and registers the operators
// torch.ops.talkface_composite_cpu.forward and .backward (ATen core headers only: a fast build).
//
// Explained in notebooks/01_volume_rendering.ipynb.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <cstdint>
#include <tuple>

#include "composite_cpu.h"

namespace {

void check(const at::Tensor& t, const char* name, at::ScalarType dtype, int64_t dim0) {
  TORCH_CHECK(t.device().is_cpu(), "composite_cpu: ", name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), "composite_cpu: ", name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == dtype, "composite_cpu: ", name, " has dtype ", t.scalar_type(), ", expected ", dtype);
  TORCH_CHECK(t.dim() >= 1 && t.size(0) == dim0, "composite_cpu: ", name, " has leading size ",
              t.dim() ? t.size(0) : -1, ", expected ", dim0);
}

void check_rays(const at::Tensor& starts, const at::Tensor& counts, int64_t n) {
  const int64_t n_rays = starts.size(0);
  check(starts, "starts", at::kLong, n_rays);
  check(counts, "counts", at::kLong, n_rays);
  const int64_t* s = starts.data_ptr<int64_t>();
  const int64_t* c = counts.data_ptr<int64_t>();
  for (int64_t r = 0; r < n_rays; ++r)  // a bad chunk would read out of bounds: refuse it
    TORCH_CHECK(s[r] >= 0 && c[r] >= 0 && s[r] + c[r] <= n, "composite_cpu: ray ", r, " has samples [", s[r], ", ",
                s[r] + c[r], ") outside [0, ", n, ")");
}

template <typename T>
const T* ptr(const at::Tensor& t) {
  return t.data_ptr<T>();
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward(
    const at::Tensor& sigmas, const at::Tensor& rgbs, const at::Tensor& deltas, const at::Tensor& ts,
    const at::Tensor& starts, const at::Tensor& counts) {
  const int64_t n = sigmas.size(0), n_rays = starts.size(0);
  const at::ScalarType dt = sigmas.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, "composite_cpu: float32 or float64 only");
  check(sigmas, "sigmas", dt, n);
  check(rgbs, "rgbs", dt, n);
  TORCH_CHECK(rgbs.dim() == 2 && rgbs.size(1) == 3, "composite_cpu: rgbs must be (n, 3)");
  check(deltas, "deltas", dt, n);
  check(ts, "ts", dt, n);
  check_rays(starts, counts, n);
  at::Tensor weights = at::empty_like(sigmas), trans = at::empty_like(sigmas);
  at::Tensor rgb = at::empty({n_rays, 3}, sigmas.options()), depth = at::empty({n_rays}, sigmas.options()),
             opacity = at::empty({n_rays}, sigmas.options());
  auto run = [&](auto zero) {
    using T = decltype(zero);
    talkface_composite_cpu::Forward<T> a{n_rays, n, ptr<T>(sigmas), ptr<T>(rgbs), ptr<T>(deltas), ptr<T>(ts),
                                         starts.data_ptr<int64_t>(), counts.data_ptr<int64_t>(),
                                         weights.data_ptr<T>(), trans.data_ptr<T>(), rgb.data_ptr<T>(),
                                         depth.data_ptr<T>(), opacity.data_ptr<T>()};
    talkface_composite_cpu_forward<T>(a);
  };
  if (dt == at::kFloat)
    run(0.0f);
  else
    run(0.0);
  return {rgb, depth, opacity, weights, trans};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward(
    const at::Tensor& grad_weights, const at::Tensor& grad_trans, const at::Tensor& grad_rgb,
    const at::Tensor& grad_depth, const at::Tensor& grad_opacity, const at::Tensor& sigmas, const at::Tensor& rgbs,
    const at::Tensor& deltas, const at::Tensor& ts, const at::Tensor& weights, const at::Tensor& trans,
    const at::Tensor& starts, const at::Tensor& counts) {
  const int64_t n = sigmas.size(0), n_rays = starts.size(0);
  const at::ScalarType dt = sigmas.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, "composite_cpu: float32 or float64 only");
  check(grad_weights, "grad_weights", dt, n);
  check(grad_trans, "grad_trans", dt, n);
  check(sigmas, "sigmas", dt, n);
  check(rgbs, "rgbs", dt, n);
  check(deltas, "deltas", dt, n);
  check(ts, "ts", dt, n);
  check(weights, "weights", dt, n);
  check(trans, "trans", dt, n);
  TORCH_CHECK(rgbs.dim() == 2 && rgbs.size(1) == 3, "composite_cpu: rgbs must be (n, 3)");
  check(grad_rgb, "grad_rgb", dt, n_rays);
  TORCH_CHECK(grad_rgb.dim() == 2 && grad_rgb.size(1) == 3, "composite_cpu: grad_rgb must be (n_rays, 3)");
  check(grad_depth, "grad_depth", dt, n_rays);
  check(grad_opacity, "grad_opacity", dt, n_rays);
  check_rays(starts, counts, n);
  at::Tensor grad_sigmas = at::empty_like(sigmas), grad_rgbs = at::empty_like(rgbs),
             grad_deltas = at::empty_like(deltas), grad_ts = at::empty_like(ts);
  auto run = [&](auto zero) {
    using T = decltype(zero);
    talkface_composite_cpu::Backward<T> a{n_rays, n, ptr<T>(grad_weights), ptr<T>(grad_trans), ptr<T>(grad_rgb),
                                          ptr<T>(grad_depth), ptr<T>(grad_opacity), ptr<T>(sigmas), ptr<T>(rgbs),
                                          ptr<T>(deltas), ptr<T>(ts), ptr<T>(weights), ptr<T>(trans),
                                          starts.data_ptr<int64_t>(), counts.data_ptr<int64_t>(),
                                          grad_sigmas.data_ptr<T>(), grad_rgbs.data_ptr<T>(),
                                          grad_deltas.data_ptr<T>(), grad_ts.data_ptr<T>()};
    talkface_composite_cpu_backward<T>(a);
  };
  if (dt == at::kFloat)
    run(0.0f);
  else
    run(0.0);
  return {grad_sigmas, grad_rgbs, grad_deltas, grad_ts};
}

}  // namespace

TORCH_LIBRARY(talkface_composite_cpu, m) {
  m.def("forward(Tensor sigmas, Tensor rgbs, Tensor deltas, Tensor ts, Tensor starts, Tensor counts) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("backward(Tensor grad_weights, Tensor grad_trans, Tensor grad_rgb, Tensor grad_depth, Tensor grad_opacity, "
        "Tensor sigmas, Tensor rgbs, Tensor deltas, Tensor ts, Tensor weights, Tensor trans, Tensor starts, "
        "Tensor counts) -> (Tensor, Tensor, Tensor, Tensor)");
  m.impl("forward", c10::DispatchKey::CPU, TORCH_FN(forward));
  m.impl("backward", c10::DispatchKey::CPU, TORCH_FN(backward));
}

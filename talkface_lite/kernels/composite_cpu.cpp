// Packed-ray alpha compositing on the CPU, forward and backward (C++, OpenMP; one task per block of rays).
//
// Torch-free on purpose (like composite.cu, whose per-ray loops it follows): the torch glue is in
// composite_cpu_binding.cpp. Per ray r with samples i = start_r .. start_r + count_r - 1:
//   tau_i = sigma_i * delta_i,  T_i = exp(-sum_{j<i} tau_j),  w_i = T_i * (1 - exp(-tau_i)),
//   rgb_r = sum_i w_i c_i,  depth_r = sum_i w_i t_i,  opacity_r = sum_i w_i.
// The optical depth before a sample is summed in double, as the PyTorch reference
// (talkface_lite.rendering.composite_packed, the specification) sums it with a float64 cumsum, then
// rounded to the working type; colour, depth and opacity are summed in sample order in the working
// type, as the reference's index_add does. Differences to the reference are the last bits of exp().
//
// Backward by a reverse scan over the saved weights and transmittance (see composite.cu):
//   g_i = dL/dw_i + <dL/drgb_r, c_i> + dL/dopacity_r + dL/ddepth_r * t_i
//   S_i = sum_{j>i} (w_j g_j + dL/dT_j T_j)
//   dL/dsigma_i = delta_i (T_{i+1} g_i - S_i),  dL/ddelta_i = sigma_i (T_{i+1} g_i - S_i),
//   dL/dc_i = w_i dL/drgb_r,  dL/dt_i = w_i dL/ddepth_r,   T_{i+1} = T_i exp(-tau_i).
// Every ray is computed by one thread in a fixed order, so results do not depend on the threads.
//
// Explained in notebooks/01_volume_rendering.ipynb.
#include "composite_cpu.h"

#include <cmath>
#include <cstdint>

namespace {

constexpr int64_t kRaysPerTask = 64;
constexpr int64_t kParallelSamples = 32768;  // below this a call stays on one thread

// Runs ray_body(r) for every ray, in tasks of kRaysPerTask rays spread over OpenMP threads when the call
// holds enough samples to pay for them. Rays are independent, so the result does not depend on the split.
template <typename RayBody>
void for_each_ray(int64_t n_rays, int64_t n_samples, const RayBody& ray_body) {
  const int64_t n_tasks = (n_rays + kRaysPerTask - 1) / kRaysPerTask;
#pragma omp parallel for schedule(dynamic, 4) if (n_samples >= kParallelSamples)
  for (int64_t task = 0; task < n_tasks; ++task) {
    const int64_t r1 = std::min(n_rays, (task + 1) * kRaysPerTask);
    for (int64_t r = task * kRaysPerTask; r < r1; ++r) ray_body(r);
  }
}

template <typename T>
void forward(const talkface_composite_cpu::Forward<T>& a) {
  for_each_ray(a.n_rays, a.n_samples, [&a](int64_t r) {
    const int64_t begin = a.starts[r], end = begin + a.counts[r];
    double optical_depth = 0.0;  // sum of tau before the current sample
    T acc_r = T(0), acc_g = T(0), acc_b = T(0), acc_d = T(0), acc_o = T(0);
    for (int64_t i = begin; i < end; ++i) {
      const T tau = a.sigmas[i] * a.deltas[i];
      const T t_before = std::exp(-static_cast<T>(optical_depth));
      const T w = t_before * (T(1) - std::exp(-tau));
      a.weights[i] = w;
      a.trans[i] = t_before;
      acc_r += w * a.rgbs[3 * i + 0];
      acc_g += w * a.rgbs[3 * i + 1];
      acc_b += w * a.rgbs[3 * i + 2];
      acc_d += w * a.ts[i];
      acc_o += w;
      optical_depth += static_cast<double>(tau);
    }
    a.rgb_out[3 * r + 0] = acc_r;
    a.rgb_out[3 * r + 1] = acc_g;
    a.rgb_out[3 * r + 2] = acc_b;
    a.depth_out[r] = acc_d;
    a.opacity_out[r] = acc_o;
  });
}

template <typename T>
void backward(const talkface_composite_cpu::Backward<T>& a) {
  for_each_ray(a.n_rays, a.n_samples, [&a](int64_t r) {
    const int64_t begin = a.starts[r], end = begin + a.counts[r];
    const T gr = a.grad_rgb[3 * r + 0], gg = a.grad_rgb[3 * r + 1], gb = a.grad_rgb[3 * r + 2];
    const T gd = a.grad_depth[r], go = a.grad_opacity[r];
    T suffix = T(0);  // S_i
    for (int64_t i = end - 1; i >= begin; --i) {
      const T w = a.weights[i];
      const T g = a.grad_weights[i] + gr * a.rgbs[3 * i + 0] + gg * a.rgbs[3 * i + 1] + gb * a.rgbs[3 * i + 2] + go +
                  gd * a.ts[i];
      const T t_after = a.trans[i] * std::exp(-a.sigmas[i] * a.deltas[i]);
      const T bracket = t_after * g - suffix;
      a.grad_sigmas[i] = a.deltas[i] * bracket;
      a.grad_deltas[i] = a.sigmas[i] * bracket;
      a.grad_rgbs[3 * i + 0] = w * gr;
      a.grad_rgbs[3 * i + 1] = w * gg;
      a.grad_rgbs[3 * i + 2] = w * gb;
      a.grad_ts[i] = w * gd;
      suffix += w * g + a.grad_trans[i] * a.trans[i];
    }
  });
}

}  // namespace

template <typename T>
void talkface_composite_cpu_forward(const talkface_composite_cpu::Forward<T>& args) {
  forward<T>(args);
}

template <typename T>
void talkface_composite_cpu_backward(const talkface_composite_cpu::Backward<T>& args) {
  backward<T>(args);
}

template void talkface_composite_cpu_forward<float>(const talkface_composite_cpu::Forward<float>&);
template void talkface_composite_cpu_forward<double>(const talkface_composite_cpu::Forward<double>&);
template void talkface_composite_cpu_backward<float>(const talkface_composite_cpu::Backward<float>&);
template void talkface_composite_cpu_backward<double>(const talkface_composite_cpu::Backward<double>&);

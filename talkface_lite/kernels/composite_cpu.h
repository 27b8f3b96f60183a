// Interface between composite_cpu.cpp (torch-free kernels) and composite_cpu_binding.cpp (torch glue).
// T is float or double; every array is contiguous; samples of ray r are [starts[r], starts[r] + counts[r]).
//
// Explained in notebooks/01_volume_rendering.ipynb.
#pragma once
#include <algorithm>
#include <cstdint>

namespace talkface_composite_cpu {

template <typename T>
struct Forward {
  int64_t n_rays, n_samples;
  const T *sigmas, *rgbs, *deltas, *ts;        // (n,), (n, 3), (n,), (n,)
  const int64_t *starts, *counts;              // (n_rays,)
  T *weights, *trans;                          // out: (n,)
  T *rgb_out, *depth_out, *opacity_out;        // out: (n_rays, 3), (n_rays,), (n_rays,)
};

template <typename T>
struct Backward {
  int64_t n_rays, n_samples;
  const T *grad_weights, *grad_trans;                     // (n,)
  const T *grad_rgb, *grad_depth, *grad_opacity;          // (n_rays, 3), (n_rays,), (n_rays,)
  const T *sigmas, *rgbs, *deltas, *ts, *weights, *trans;  // saved by the forward pass
  const int64_t *starts, *counts;
  T *grad_sigmas, *grad_rgbs, *grad_deltas, *grad_ts;     // out
};

}  // namespace talkface_composite_cpu

template <typename T>
void talkface_composite_cpu_forward(const talkface_composite_cpu::Forward<T>& args);
template <typename T>
void talkface_composite_cpu_backward(const talkface_composite_cpu::Backward<T>& args);

// Interface between hashgrid_cpu.cpp (torch-free kernels) and hashgrid_cpu_binding.cpp (torch glue).
//
// Explained in notebooks/02_hash_encoding.ipynb.
#pragma once
#include <cstdint>

namespace talkface_hashgrid_cpu {

// One level of the grid, from HashGridConfig.levels() on the host.
struct Level {
  uint32_t offset;      // first row in the flat table
  uint32_t size;        // rows owned (a power of two when hashed)
  uint32_t resolution;  // vertices per axis
  uint32_t hashed;      // 1: XOR-of-primes hash, 0: dense index
  double scale;         // the float32 scale, widened exactly
};

// One call: G grids with the same levels, grid g reading axes[g * D .. g * D + D) of the points and
// writing columns [g * L * F, (g + 1) * L * F) of the features. T is float or double.
template <typename T>
struct Call {
  int n_dims;       // D: 2 or 3
  int n_features;   // F: 1, 2, 4 or 8
  int n_grids;      // G
  int64_t n;        // points
  const T* x;       // (n, x_stride)
  int64_t x_stride;
  const int* axes;  // (G * D,)
  const T* const* tables;  // G tables (rows, F)
  const Level* levels;
  int n_levels;     // L
  bool smoothstep;
  T* out;                  // forward: (n, G * L * F), or nullptr
  const T* grad_out;       // backward: (n, G * L * F)
  T* const* grad_tables;   // backward: G zeroed (rows, F) buffers (an entry may be nullptr), or nullptr
  T* grad_x;               // backward: zeroed (n, x_stride), or nullptr
};

}  // namespace talkface_hashgrid_cpu

// Runs the forward pass (call.out) and/or the backward pass (call.grad_tables, call.grad_x). Returns false
// when (D, F) has no instantiation; the binding checks that first.
template <typename T>
bool talkface_hashgrid_cpu_run(const talkface_hashgrid_cpu::Call<T>& call);

// Multiresolution hash encoding, forward and backward (one CUDA thread per (point, level)).
//
// Pure CUDA C++ (no torch headers) so CI can compile-check it with plain
//   nvcc -c -std=c++17 -arch=sm_90 hashgrid.cu
// The torch glue (tensor checks, allocation, stream) is in hashgrid_binding.cpp.
//
// Semantics are tiny-cuda-nn's HashGrid; the specification is the PyTorch
// reference talkface_lite/encoding/hashgrid.py, and tests compare the two.
// For level l with scale s_l (float32, computed on the host), resolution r_l,
// S_l table rows starting at row o_l, and a point x in [0, 1]^D:
//   pos_d = s_l * x_d + 0.5   (a rounded multiply, then a rounded add, as the reference)
//   cell_d = (uint32) floor(pos_d),  f_d = pos_d - floor(pos_d)
//   corner c in {0,1}^D:  v = cell + c (uint32),  w_c = prod_d (c_d ? f_d : 1 - f_d)
//   index(v) = sum_d v_d r_l^d            if r_l^D <= S_l   (dense)
//            = XOR_d v_d * prime_d        otherwise         (hashed), all in uint32
//   row = o_l + index(v) mod S_l,  out[x, l*F + f] = sum_c w_c * table[row, f]
// Smoothstep replaces f_d by f_d^2 (3 - 2 f_d).
//
// Backward: recompute the corners; dL/dtable[row] += w_c * dL/dout by atomicAdd
// into a float32 buffer (also for fp16 tables: the caller casts at the end),
// and optionally dL/dx_d = s_l * sum_c sign_d(c) * (prod_{e != d} w_e) * w'(f_d) * <table[row], dL/dout>.
//
// Templated over D (2, 3), F (1, 2, 4, 8) and the table type (float, __half).
//
// Explained in notebooks/02_hash_encoding.ipynb.
#include <cstdint>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace talkface_hashgrid {

constexpr int kMaxLevels = 32;
constexpr int kThreads = 256;

struct GridMeta {
  uint32_t n_levels;
  uint32_t smoothstep;
  uint32_t offset[kMaxLevels];
  uint32_t size[kMaxLevels];
  uint32_t resolution[kMaxLevels];
  float scale[kMaxLevels];
};

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }

// Row of a vertex within its level (tiny-cuda-nn's grid_index with the coherent prime hash).
template <int D>
__device__ __forceinline__ uint32_t grid_index(const uint32_t* v, uint32_t resolution, uint32_t size) {
  constexpr uint32_t primes[4] = {1u, 2654435761u, 805459861u, 3674653429u};
  uint32_t stride = 1;
  uint32_t index = 0;
#pragma unroll
  for (int d = 0; d < D && stride <= size; ++d) {  // second condition avoids overflow on fine levels
    index += v[d] * stride;
    stride *= resolution;
  }
  if (size < stride) {
    index = 0;
#pragma unroll
    for (int d = 0; d < D; ++d) index ^= v[d] * primes[d];
  }
  return index % size;
}

// Cell, weight of the high corner and its derivative along each axis.
template <int D>
__device__ __forceinline__ void cell_weights(const float* __restrict__ x, float scale, bool smoothstep,
                                             uint32_t* cell, float* w1, float* dw1) {
#pragma unroll
  for (int d = 0; d < D; ++d) {
    const float pos = __fadd_rn(__fmul_rn(scale, x[d]), 0.5f);  // no fma: same rounding as the reference
    const float fl = floorf(pos);
    const float f = pos - fl;
    cell[d] = static_cast<uint32_t>(static_cast<int>(fl));
    if (smoothstep) {
      w1[d] = f * f * (3.f - 2.f * f);
      dw1[d] = 6.f * f * (1.f - f);
    } else {
      w1[d] = f;
      dw1[d] = 1.f;
    }
  }
}

// Corner c of the cell (bit d of c: high side along axis d): its vertex, the
// per-axis weights wd and their product (the trilinear/bilinear weight).
template <int D>
__device__ __forceinline__ float corner(uint32_t c, const uint32_t* cell, const float* w1, uint32_t* v, float* wd) {
  float w = 1.f;
#pragma unroll
  for (int d = 0; d < D; ++d) {
    const bool hi = (c >> d) & 1u;
    v[d] = cell[d] + (hi ? 1u : 0u);
    wd[d] = hi ? w1[d] : 1.f - w1[d];
    w *= wd[d];
  }
  return w;
}

template <int D, int F, typename T>
__global__ void hashgrid_forward_kernel(const float* __restrict__ x, const T* __restrict__ table,
                                        T* __restrict__ out, uint32_t n_points, GridMeta meta) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t level = blockIdx.y;
  if (i >= n_points) return;
  const uint32_t size = meta.size[level];
  const uint32_t resolution = meta.resolution[level];
  const T* __restrict__ grid = table + static_cast<size_t>(meta.offset[level]) * F;

  uint32_t cell[D];
  float w1[D], dw1[D];
  cell_weights<D>(x + static_cast<size_t>(i) * D, meta.scale[level], meta.smoothstep != 0, cell, w1, dw1);

  float acc[F];
#pragma unroll
  for (int f = 0; f < F; ++f) acc[f] = 0.f;
#pragma unroll
  for (uint32_t c = 0; c < (1u << D); ++c) {
    uint32_t v[D];
    float wd[D];
    const float w = corner<D>(c, cell, w1, v, wd);
    const T* __restrict__ row = grid + static_cast<size_t>(grid_index<D>(v, resolution, size)) * F;
#pragma unroll
    for (int f = 0; f < F; ++f) acc[f] += w * to_float(row[f]);
  }
  T* __restrict__ o = out + (static_cast<size_t>(i) * meta.n_levels + level) * F;
#pragma unroll
  for (int f = 0; f < F; ++f) o[f] = from_float<T>(acc[f]);
}

template <int D, int F, typename T>
__global__ void hashgrid_backward_kernel(const float* __restrict__ x, const T* __restrict__ table,
                                         const T* __restrict__ grad_out, float* __restrict__ grad_table,
                                         float* __restrict__ grad_x, uint32_t n_points, GridMeta meta) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t level = blockIdx.y;
  if (i >= n_points) return;
  const uint32_t size = meta.size[level];
  const uint32_t resolution = meta.resolution[level];
  const size_t level_row0 = meta.offset[level];

  uint32_t cell[D];
  float w1[D], dw1[D];
  const float scale = meta.scale[level];
  cell_weights<D>(x + static_cast<size_t>(i) * D, scale, meta.smoothstep != 0, cell, w1, dw1);

  float g[F];
  const T* __restrict__ go = grad_out + (static_cast<size_t>(i) * meta.n_levels + level) * F;
#pragma unroll
  for (int f = 0; f < F; ++f) g[f] = to_float(go[f]);

  float gpos[D];
#pragma unroll
  for (int d = 0; d < D; ++d) gpos[d] = 0.f;

#pragma unroll
  for (uint32_t c = 0; c < (1u << D); ++c) {
    uint32_t v[D];
    float wd[D];
    const float w = corner<D>(c, cell, w1, v, wd);
    const size_t row = level_row0 + grid_index<D>(v, resolution, size);
#pragma unroll
    for (int f = 0; f < F; ++f) atomicAdd(grad_table + row * F + f, w * g[f]);
    if (grad_x != nullptr) {
      float dot = 0.f;
      const T* __restrict__ val = table + row * F;
#pragma unroll
      for (int f = 0; f < F; ++f) dot += to_float(val[f]) * g[f];
#pragma unroll
      for (int d = 0; d < D; ++d) {
        float others = ((c >> d) & 1u) ? dot : -dot;
#pragma unroll
        for (int e = 0; e < D; ++e)
          if (e != d) others *= wd[e];
        gpos[d] += others;
      }
    }
  }
  if (grad_x != nullptr) {
#pragma unroll
    for (int d = 0; d < D; ++d) atomicAdd(grad_x + static_cast<size_t>(i) * D + d, gpos[d] * dw1[d] * scale);
  }
}

template <int D, int F, typename T>
cudaError_t launch(const float* x, const void* table, void* out, const void* grad_out, float* grad_table,
                   float* grad_x, uint32_t n_points, const GridMeta& meta, cudaStream_t stream, bool backward) {
  if (n_points == 0) return cudaSuccess;
  const dim3 blocks((n_points + kThreads - 1) / kThreads, meta.n_levels);
  if (backward) {
    hashgrid_backward_kernel<D, F, T><<<blocks, kThreads, 0, stream>>>(
        x, static_cast<const T*>(table), static_cast<const T*>(grad_out), grad_table, grad_x, n_points, meta);
  } else {
    hashgrid_forward_kernel<D, F, T><<<blocks, kThreads, 0, stream>>>(
        x, static_cast<const T*>(table), static_cast<T*>(out), n_points, meta);
  }
  return cudaGetLastError();
}

template <int D, typename T>
cudaError_t dispatch_features(int n_features, const float* x, const void* table, void* out, const void* grad_out,
                              float* grad_table, float* grad_x, uint32_t n_points, const GridMeta& meta,
                              cudaStream_t stream, bool backward) {
  switch (n_features) {
    case 1: return launch<D, 1, T>(x, table, out, grad_out, grad_table, grad_x, n_points, meta, stream, backward);
    case 2: return launch<D, 2, T>(x, table, out, grad_out, grad_table, grad_x, n_points, meta, stream, backward);
    case 4: return launch<D, 4, T>(x, table, out, grad_out, grad_table, grad_x, n_points, meta, stream, backward);
    case 8: return launch<D, 8, T>(x, table, out, grad_out, grad_table, grad_x, n_points, meta, stream, backward);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T>
cudaError_t dispatch_dims(int n_dims, int n_features, const float* x, const void* table, void* out,
                          const void* grad_out, float* grad_table, float* grad_x, uint32_t n_points,
                          const GridMeta& meta, cudaStream_t stream, bool backward) {
  switch (n_dims) {
    case 2: return dispatch_features<2, T>(n_features, x, table, out, grad_out, grad_table, grad_x, n_points, meta, stream, backward);
    case 3: return dispatch_features<3, T>(n_features, x, table, out, grad_out, grad_table, grad_x, n_points, meta, stream, backward);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t make_meta(int n_levels, const uint32_t* offsets, const uint32_t* sizes, const uint32_t* resolutions,
                      const float* scales, bool smoothstep, GridMeta* meta) {
  if (n_levels < 1 || n_levels > kMaxLevels) return cudaErrorInvalidValue;
  meta->n_levels = static_cast<uint32_t>(n_levels);
  meta->smoothstep = smoothstep ? 1u : 0u;
  for (int l = 0; l < kMaxLevels; ++l) {
    const bool used = l < n_levels;
    meta->offset[l] = used ? offsets[l] : 0u;
    meta->size[l] = used ? sizes[l] : 1u;
    meta->resolution[l] = used ? resolutions[l] : 1u;
    meta->scale[l] = used ? scales[l] : 0.f;
    if (used && sizes[l] == 0) return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

}  // namespace talkface_hashgrid

// Host entry points (C++ linkage: a signature mismatch with the binding fails at link/import time).
// table_is_half: 0 -> float32 table and output, 1 -> float16 table and output.
cudaError_t talkface_hashgrid_forward(const float* x, const void* table, void* out, uint32_t n_points, int n_dims,
                                      int n_features, int table_is_half, int n_levels, const uint32_t* offsets,
                                      const uint32_t* sizes, const uint32_t* resolutions, const float* scales,
                                      bool smoothstep, cudaStream_t stream) {
  using namespace talkface_hashgrid;
  GridMeta meta;
  const cudaError_t err = make_meta(n_levels, offsets, sizes, resolutions, scales, smoothstep, &meta);
  if (err != cudaSuccess) return err;
  if (table_is_half)
    return dispatch_dims<__half>(n_dims, n_features, x, table, out, nullptr, nullptr, nullptr, n_points, meta, stream, false);
  return dispatch_dims<float>(n_dims, n_features, x, table, out, nullptr, nullptr, nullptr, n_points, meta, stream, false);
}

// grad_table: float32 (rows, F), zero-initialised by the caller; grad_x: float32 (n_points, D) zeroed, or nullptr.
cudaError_t talkface_hashgrid_backward(const float* x, const void* table, const void* grad_out, float* grad_table,
                                       float* grad_x, uint32_t n_points, int n_dims, int n_features,
                                       int table_is_half, int n_levels, const uint32_t* offsets, const uint32_t* sizes,
                                       const uint32_t* resolutions, const float* scales, bool smoothstep,
                                       cudaStream_t stream) {
  using namespace talkface_hashgrid;
  GridMeta meta;
  const cudaError_t err = make_meta(n_levels, offsets, sizes, resolutions, scales, smoothstep, &meta);
  if (err != cudaSuccess) return err;
  if (table_is_half)
    return dispatch_dims<__half>(n_dims, n_features, x, table, nullptr, grad_out, grad_table, grad_x, n_points, meta, stream, true);
  return dispatch_dims<float>(n_dims, n_features, x, table, nullptr, grad_out, grad_table, grad_x, n_points, meta, stream, true);
}

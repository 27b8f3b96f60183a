// Multiresolution hash encoding on the CPU: forward, table backward and input backward (C++, OpenMP).
//
// Torch-free on purpose (like hashgrid.cu): the torch glue is in hashgrid_cpu_binding.cpp, so this
// file compiles in seconds and can be checked on its own with `g++ -c -fopenmp hashgrid_cpu.cpp`.
//
// Semantics and arithmetic are the PyTorch reference's (talkface_lite/encoding/hashgrid.py is the
// specification). For level l with scale s_l, resolution r_l and S_l rows starting at row o_l:
//   pos_d = s_l * x_d + 0.5   (a rounded multiply, then a rounded add: built with -ffp-contract=off)
//   cell_d = (uint32)(int64) floor(pos_d),  f_d = pos_d - floor(pos_d)   (inputs are not clamped)
//   index(v) = sum_d v_d r_l^d (dense) or XOR_d v_d * prime_d (hashed), in uint32, then mod S_l
//   out[i, l*F + f] = sum over the 2^D corners c of w_c * table[o_l + index(cell + c), f]
// Corners are visited in the reference's order (axis 0 is the slowest-varying bit), each weight is
// multiplied axis 0 first and the sum starts from zero, so the forward pass reproduces the reference's
// bits, in float32 and in float64.
//
// One call encodes G grids that share a geometry and read different axes of the same points
// (G = 1: a HashGrid; G = 3: the tri-plane's xy, yz, xz planes), writing their features side by side.
//
// Parallelism and determinism. The trainers check that a resumed run ends with the same bits as an
// uninterrupted one, so the backward pass must give the same bits on every run and for every thread
// count; there are no float atomics:
//   * forward and d/dx: points are independent; blocks of points are split across threads.
//   * d/dtable: each level owns a disjoint slice of the table, so levels are distributed across
//     threads (dynamic schedule) and every level is accumulated by a single thread, points in
//     increasing order. The bits do not depend on the thread count or the schedule. (The reference
//     adds the same terms chunk by chunk, corner-major, so the two agree to float rounding.)
// Memory: a large level (4 MiB at T = 2^19, F = 2) is walked by one thread over a whole chunk of
// points (~8 MiB of features) so that its table stays in cache, with the rows of the next batch of
// points prefetched; features go through a level-major (L, chunk, F) scratch buffer. Small tables
// (the tri-plane's 64 KiB levels) are read block of points by block of points straight into the
// output rows. See run() for the schedule.
//
// Explained in notebooks/02_hash_encoding.ipynb.
#include "hashgrid_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__GNUC__)
#define TF_INLINE inline __attribute__((always_inline))  // the per-corner helpers must inline into the loops
#else
#define TF_INLINE inline
#endif

namespace talkface_hashgrid_cpu {

constexpr uint32_t kPrimes[4] = {1u, 2654435761u, 805459861u, 3674653429u};
constexpr int64_t kBlock = 256;           // points per task of the point-parallel loops
constexpr int64_t kTransposeBlock = 32;   // points per block of the layout changes
constexpr int64_t kDirectBlock = 4096;    // points per block of the small-table forward pass
constexpr int kBatch = 16;                // points whose table rows are prefetched together
constexpr int64_t kParallelWork = 16384;  // (point, level) pairs below which a call stays on one thread
constexpr size_t kScratchBytes = size_t(8) << 20;  // level-major work buffer per chunk of points
constexpr size_t kPrefetchBytes = size_t(256) << 10;  // a level's table slice above this is prefetched

// Only float32 gets the prefetching variants for large tables.
template <typename T>
constexpr bool kPrefetchPath = sizeof(T) == 4;

// Where a grid reads its points: coordinate d of point i is x[i * stride + axis[d]].
template <int D, typename T>
struct Input {
  const T* x;
  int64_t stride;
  int axis[D];
};

// Cell of a point on one level: lower corner, per-axis weights of the low/high corner, d(high)/d(pos).
template <int D, typename T>
struct Cell {
  uint32_t c[D];
  T w0[D], w1[D], dw1[D];
};

template <int D, typename T>
TF_INLINE void locate(const Input<D, T>& in, int64_t i, T scale, bool smoothstep, Cell<D, T>& cell) {
  for (int d = 0; d < D; ++d) {
    T pos = in.x[i * in.stride + in.axis[d]] * scale;
    pos = pos + T(0.5);
    const T fl = std::floor(pos);
    const T f = pos - fl;
    cell.c[d] = static_cast<uint32_t>(static_cast<int64_t>(fl));  // the reference's int64 cast, wrapped
    if (smoothstep) {
      cell.w1[d] = f * f * (T(3) - T(2) * f);
      cell.dw1[d] = T(6) * f * (T(1) - f);
    } else {
      cell.w1[d] = f;
      cell.dw1[d] = T(1);
    }
    cell.w0[d] = T(1) - cell.w1[d];
  }
}

// Is axis d on the high side for corner k? Reference order: axis 0 is the most significant bit.
template <int D>
constexpr bool high(int k, int d) {
  return (k >> (D - 1 - d)) & 1;
}

// Per-axis index multipliers of a level: the primes (hashed) or the dense strides r^d (wrapped to uint32).
template <int D, bool HASHED>
struct Geometry {
  uint32_t mult[D];
  uint32_t size;
  explicit Geometry(const Level& lv) : size(lv.size) {
    uint32_t stride = 1;
    for (int d = 0; d < D; ++d) {
      mult[d] = HASHED ? kPrimes[d] : stride;
      stride *= lv.resolution;
    }
  }
};

// Rows (within the level) and weights of the 2^D corners of a cell.
template <int D, bool HASHED, typename T>
TF_INLINE void corners(const Cell<D, T>& cell, const Geometry<D, HASHED>& geo, uint32_t* row, T* w) {
  uint32_t term[2][D];  // index term of the low / high vertex along each axis
  for (int d = 0; d < D; ++d) {
    term[0][d] = cell.c[d] * geo.mult[d];
    term[1][d] = (cell.c[d] + 1u) * geo.mult[d];
  }
  for (int k = 0; k < (1 << D); ++k) {
    uint32_t index = term[high<D>(k, 0)][0];
    T wk = high<D>(k, 0) ? cell.w1[0] : cell.w0[0];
    for (int d = 1; d < D; ++d) {
      index = HASHED ? (index ^ term[high<D>(k, d)][d]) : (index + term[high<D>(k, d)][d]);
      wk = wk * (high<D>(k, d) ? cell.w1[d] : cell.w0[d]);
    }
    // hashed levels own exactly 2^T rows; dense edge vertices and negative inputs wrap like the reference
    row[k] = HASHED ? (index & (geo.size - 1u)) : (index < geo.size ? index : index % geo.size);
    w[k] = wk;
  }
}

// Corner rows and weights of a batch of up to kBatch points, with a prefetch of every row: the table
// accesses of the whole batch are then in flight together instead of one after the other.
template <int D, int F, bool HASHED, bool WRITE, bool PREFETCH, typename T>
struct Batch {
  static constexpr int C = 1 << D;
  uint32_t row[kBatch][C];
  T w[kBatch][C];

  TF_INLINE void fill(const Input<D, T>& in, int64_t i0, int m, const Geometry<D, HASHED>& geo, T scale, bool smoothstep,
            const T* grid) {
    for (int j = 0; j < m; ++j) {
      Cell<D, T> cell;
      locate<D, T>(in, i0 + j, scale, smoothstep, cell);
      corners<D, HASHED, T>(cell, geo, row[j], w[j]);
      if (PREFETCH)
        for (int k = 0; k < C; ++k) __builtin_prefetch(grid + static_cast<int64_t>(row[j][k]) * F, WRITE ? 1 : 0);
    }
  }
};

// ------------------------------------------------------------------ forward

// Level lv of points [0, n) into out_l (n, F). PREFETCH: gather the corner rows of a batch of points
// ahead of use (worth it when the level's table slice is not in L2).
template <int D, int F, bool HASHED, bool PREFETCH, typename T>
void forward_level(const Input<D, T>& in, const T* table, T* out_l, int64_t out_stride, int64_t n, const Level& lv,
                   bool smoothstep) {
  constexpr int C = 1 << D;
  const T* grid = table + static_cast<int64_t>(lv.offset) * F;
  const T scale = static_cast<T>(lv.scale);
  const Geometry<D, HASHED> geo(lv);
  auto gather = [&](const uint32_t* row, const T* w, T* o) {
    T acc[F];
    for (int f = 0; f < F; ++f) acc[f] = T(0);
    for (int k = 0; k < C; ++k) {
      const T* val = grid + static_cast<int64_t>(row[k]) * F;
      for (int f = 0; f < F; ++f) acc[f] += w[k] * val[f];
    }
    for (int f = 0; f < F; ++f) o[f] = acc[f];
  };
  if (!PREFETCH) {  // small table: one point at a time is fastest
    for (int64_t i = 0; i < n; ++i) {
      Cell<D, T> cell;
      locate<D, T>(in, i, scale, smoothstep, cell);
      uint32_t row[C];
      T w[C];
      corners<D, HASHED, T>(cell, geo, row, w);
      gather(row, w, out_l + i * out_stride);
    }
    return;
  }
  // two batches in flight: the rows of the next batch are prefetched while this one is gathered
  Batch<D, F, HASHED, false, true, T> batch[2];
  batch[0].fill(in, 0, static_cast<int>(std::min<int64_t>(kBatch, n)), geo, scale, smoothstep, grid);
  for (int64_t b = 0, cur = 0; b < n; b += kBatch, cur ^= 1) {
    const int m = static_cast<int>(std::min<int64_t>(kBatch, n - b));
    if (b + kBatch < n)
      batch[cur ^ 1].fill(in, b + kBatch, static_cast<int>(std::min<int64_t>(kBatch, n - b - kBatch)), geo, scale,
                          smoothstep, grid);
    for (int j = 0; j < m; ++j) gather(batch[cur].row[j], batch[cur].w[j], out_l + (b + j) * out_stride);
  }
}

// Dispatch on the level's kind (dense / hashed) and on whether its table slice is large enough to prefetch.
template <int D, int F, typename T>
void forward_level_any(const Input<D, T>& in, const T* table, T* out_l, int64_t out_stride, int64_t n, const Level& lv,
                       bool smoothstep) {
  if constexpr (!kPrefetchPath<T>) {  // float64 is for checks and small grids: one path keeps the build short
    if (lv.hashed)
      forward_level<D, F, true, false, T>(in, table, out_l, out_stride, n, lv, smoothstep);
    else
      forward_level<D, F, false, false, T>(in, table, out_l, out_stride, n, lv, smoothstep);
  } else {
    const bool big = static_cast<size_t>(lv.size) * F * sizeof(T) > kPrefetchBytes;
    if (lv.hashed) {
      if (big)
        forward_level<D, F, true, true, T>(in, table, out_l, out_stride, n, lv, smoothstep);
      else
        forward_level<D, F, true, false, T>(in, table, out_l, out_stride, n, lv, smoothstep);
    } else {
      if (big)
        forward_level<D, F, false, true, T>(in, table, out_l, out_stride, n, lv, smoothstep);
      else
        forward_level<D, F, false, false, T>(in, table, out_l, out_stride, n, lv, smoothstep);
    }
  }
}

// Level-major scratch lm (L, n, F) -> point-major rows pm[i * stride + l * F + f], in blocks of points.
template <int F, typename T>
void to_point_major(const T* lm, T* pm, int64_t stride, int64_t n, int L) {
  const int64_t n_blocks = (n + kTransposeBlock - 1) / kTransposeBlock;
#pragma omp parallel for schedule(dynamic, 16) if (n * L >= kParallelWork)
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t i0 = b * kTransposeBlock, i1 = std::min(n, i0 + kTransposeBlock);
    for (int64_t i = i0; i < i1; ++i)
      for (int l = 0; l < L; ++l)
        for (int f = 0; f < F; ++f) pm[i * stride + l * F + f] = lm[(l * n + i) * F + f];
  }
}

// The inverse: point-major rows -> level-major (L, n, F).
template <int F, typename T>
void to_level_major(const T* pm, int64_t stride, T* lm, int64_t n, int L) {
  const int64_t n_blocks = (n + kTransposeBlock - 1) / kTransposeBlock;
#pragma omp parallel for schedule(dynamic, 16) if (n * L >= kParallelWork)
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t i0 = b * kTransposeBlock, i1 = std::min(n, i0 + kTransposeBlock);
    for (int l = 0; l < L; ++l)
      for (int64_t i = i0; i < i1; ++i)
        for (int f = 0; f < F; ++f) lm[(l * n + i) * F + f] = pm[i * stride + l * F + f];
  }
}

// ------------------------------------------------------------------ backward: table

template <int D, int F, bool HASHED, bool PREFETCH, typename T>
void backward_table_level(const Input<D, T>& in, const T* g_l, T* grad, int64_t n, const Level& lv,
                          bool smoothstep) {
  constexpr int C = 1 << D;
  grad += static_cast<int64_t>(lv.offset) * F;
  const T scale = static_cast<T>(lv.scale);
  const Geometry<D, HASHED> geo(lv);
  auto scatter = [&](const uint32_t* row, const T* w, const T* gi) {
    for (int k = 0; k < C; ++k) {
      T* dst = grad + static_cast<int64_t>(row[k]) * F;
      for (int f = 0; f < F; ++f) dst[f] += w[k] * gi[f];
    }
  };
  Batch<D, F, HASHED, true, PREFETCH, T> batch[2];
  if (!PREFETCH) {  // small table: the batch only separates the index maths from the scattered adds
    for (int64_t b = 0; b < n; b += kBatch) {  // increasing point order: a fixed summation order
      const int m = static_cast<int>(std::min<int64_t>(kBatch, n - b));
      batch[0].fill(in, b, m, geo, scale, smoothstep, grad);
      for (int j = 0; j < m; ++j) scatter(batch[0].row[j], batch[0].w[j], g_l + (b + j) * F);
    }
    return;
  }
  // two batches in flight: the rows of the next batch are prefetched while this one is scattered
  batch[0].fill(in, 0, static_cast<int>(std::min<int64_t>(kBatch, n)), geo, scale, smoothstep, grad);
  for (int64_t b = 0, cur = 0; b < n; b += kBatch, cur ^= 1) {  // increasing point order: a fixed summation order
    const int m = static_cast<int>(std::min<int64_t>(kBatch, n - b));
    if (b + kBatch < n)
      batch[cur ^ 1].fill(in, b + kBatch, static_cast<int>(std::min<int64_t>(kBatch, n - b - kBatch)), geo, scale,
                          smoothstep, grad);
    for (int j = 0; j < m; ++j) scatter(batch[cur].row[j], batch[cur].w[j], g_l + (b + j) * F);
  }
}

template <int D, int F, typename T>
void backward_table_level_any(const Input<D, T>& in, const T* g_l, T* grad, int64_t n, const Level& lv,
                              bool smoothstep) {
  if constexpr (!kPrefetchPath<T>) {  // float64 is for checks and small grids: one path keeps the build short
    if (lv.hashed)
      backward_table_level<D, F, true, false, T>(in, g_l, grad, n, lv, smoothstep);
    else
      backward_table_level<D, F, false, false, T>(in, g_l, grad, n, lv, smoothstep);
  } else {
    const bool big = static_cast<size_t>(lv.size) * F * sizeof(T) > kPrefetchBytes;
    if (lv.hashed) {
      if (big)
        backward_table_level<D, F, true, true, T>(in, g_l, grad, n, lv, smoothstep);
      else
        backward_table_level<D, F, true, false, T>(in, g_l, grad, n, lv, smoothstep);
    } else {
      if (big)
        backward_table_level<D, F, false, true, T>(in, g_l, grad, n, lv, smoothstep);
      else
        backward_table_level<D, F, false, false, T>(in, g_l, grad, n, lv, smoothstep);
    }
  }
}

// ------------------------------------------------------------------ backward: inputs

// d loss / d x_d += s_l * w'(f_d) * sum_c sign_d(c) * (prod_{e != d} w_e(c)) * <table[row_c], g_l>
template <int D, int F, bool HASHED, typename T>
void backward_x_level(const Input<D, T>& in, int64_t i, const T* table, const T* gi, T* gpos_sum, const Level& lv,
                      bool smoothstep) {
  const T scale = static_cast<T>(lv.scale);
  Cell<D, T> cell;
  locate<D, T>(in, i, scale, smoothstep, cell);
  uint32_t row[1 << D];
  T w[1 << D];
  corners<D, HASHED, T>(cell, Geometry<D, HASHED>(lv), row, w);
  const T* grid = table + static_cast<int64_t>(lv.offset) * F;
  T gpos[D];
  for (int d = 0; d < D; ++d) gpos[d] = T(0);
  for (int k = 0; k < (1 << D); ++k) {
    const T* val = grid + static_cast<int64_t>(row[k]) * F;
    T dot = val[0] * gi[0];
    for (int f = 1; f < F; ++f) dot += val[f] * gi[f];
    for (int d = 0; d < D; ++d) {
      T others = high<D>(k, d) ? dot : -dot;
      for (int e = 0; e < D; ++e)
        if (e != d) others = others * (high<D>(k, e) ? cell.w1[e] : cell.w0[e]);
      gpos[d] += others;
    }
  }
  for (int d = 0; d < D; ++d) {
    if (smoothstep) gpos[d] = gpos[d] * cell.dw1[d];
    gpos_sum[d] += gpos[d] * scale;
  }
}

// grad_x[i * in.stride + in.axis[d]] += d loss / d x_d (grids of one call add up in a fixed order).
template <int D, int F, typename T>
void backward_x(const Input<D, T>& in, const T* table, const T* grad_out, int64_t grad_stride, T* grad_x, int64_t n,
                const Level* levels, int L, bool smoothstep) {
  const int64_t n_blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 4) if (n * L >= kParallelWork)
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t i0 = b * kBlock, i1 = std::min(n, i0 + kBlock);
    for (int64_t i = i0; i < i1; ++i) {
      T gx[D];
      for (int d = 0; d < D; ++d) gx[d] = T(0);
      for (int l = 0; l < L; ++l) {
        const T* gi = grad_out + i * grad_stride + l * F;
        if (levels[l].hashed)
          backward_x_level<D, F, true, T>(in, i, table, gi, gx, levels[l], smoothstep);
        else
          backward_x_level<D, F, false, T>(in, i, table, gi, gx, levels[l], smoothstep);
      }
      for (int d = 0; d < D; ++d) grad_x[i * in.stride + in.axis[d]] += gx[d];
    }
  }
}

// ------------------------------------------------------------------ dispatch over (D, F), grid by grid

// A work buffer that lives as long as the calling thread: large fresh allocations cost a page fault
// per 4 KiB on first touch, which is a large part of a call at 2^18 points.
template <typename T>
T* scratch_buffer(size_t n) {
  static thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// Points per chunk: the chunk's level-major features (G * L * F values per point) fill at most kScratchBytes.
inline int64_t chunk_points(int64_t n, int64_t values_per_point, size_t value_bytes) {
  const int64_t fit = static_cast<int64_t>(kScratchBytes / (values_per_point * value_bytes));
  return std::max<int64_t>(kBlock, std::min(n, fit / kBlock * kBlock));
}

// Forward with small tables: blocks of points across threads, every (grid, level) per block. Otherwise
// points go in chunks; within a chunk, one (grid, level) pair per task. The forward pass writes each
// pair's features to a level-major scratch (so a thread keeps one level's table in cache for the whole
// chunk), then to the point-major output. The table backward reads the upstream gradient through the
// same scratch, and every (grid, level) slice of the table gradient is summed by one thread per chunk,
// chunk after chunk, points in increasing order: a fixed order whatever the threads do. d/dx goes
// point by point, grid after grid.
template <int D, int F, typename T>
void run(const Call<T>& a) {
  const int G = a.n_grids, L = a.n_levels, GL = G * L;
  const int64_t row_stride = static_cast<int64_t>(GL) * F;  // features of all grids side by side
  std::vector<Input<D, T>> inputs(G);
  for (int g = 0; g < G; ++g) {
    inputs[g] = Input<D, T>{a.x, a.x_stride, {}};
    for (int d = 0; d < D; ++d) inputs[g].axis[d] = a.axes[g * D + d];
  }
  // Forward with small tables (every level's slice fits in L2, e.g. the tri-plane's): blocks of points,
  // all levels per block, written straight into the output rows; a block's rows stay in L2.
  bool small_tables = true;
  for (int l = 0; l < L; ++l) small_tables &= static_cast<size_t>(a.levels[l].size) * F * sizeof(T) <= kPrefetchBytes;
  const bool direct = a.out != nullptr && small_tables;
  if (direct) {
    const int64_t n_blocks = (a.n + kDirectBlock - 1) / kDirectBlock;
#pragma omp parallel for schedule(dynamic, 1) if (a.n * GL >= kParallelWork)
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int64_t i0 = b * kDirectBlock, m = std::min(a.n, i0 + kDirectBlock) - i0;
      for (int gl = 0; gl < GL; ++gl) {
        Input<D, T> in = inputs[gl / L];
        in.x += i0 * in.stride;
        forward_level_any<D, F, T>(in, a.tables[gl / L], a.out + i0 * row_stride + static_cast<int64_t>(gl) * F,
                                   row_stride, m, a.levels[gl % L], a.smoothstep);
      }
    }
  }
  // Otherwise (and for the table backward) through the level-major scratch, chunk by chunk.
  const bool tables_needed = (a.out != nullptr && !direct) || a.grad_tables != nullptr;
  const int64_t chunk = chunk_points(a.n, row_stride, sizeof(T));
  T* scratch = tables_needed ? scratch_buffer<T>(static_cast<size_t>(chunk * row_stride)) : nullptr;
  for (int64_t c0 = 0; tables_needed && c0 < a.n; c0 += chunk) {
    const int64_t m = std::min(chunk, a.n - c0);
    const bool parallel = m * GL >= kParallelWork;
    if (a.out != nullptr && !direct) {
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
      for (int gl = 0; gl < GL; ++gl) {
        const int g = gl / L, l = gl % L;
        Input<D, T> in = inputs[g];
        in.x += c0 * in.stride;
        forward_level_any<D, F, T>(in, a.tables[g], scratch + static_cast<int64_t>(gl) * m * F, F, m, a.levels[l],
                                   a.smoothstep);
      }
      to_point_major<F, T>(scratch, a.out + c0 * row_stride, row_stride, m, GL);
    }
    if (a.grad_tables != nullptr) {
      to_level_major<F, T>(a.grad_out + c0 * row_stride, row_stride, scratch, m, GL);
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
      for (int gl = 0; gl < GL; ++gl) {
        const int g = gl / L, l = gl % L;
        if (a.grad_tables[g] == nullptr) continue;
        Input<D, T> in = inputs[g];
        in.x += c0 * in.stride;
        backward_table_level_any<D, F, T>(in, scratch + static_cast<int64_t>(gl) * m * F, a.grad_tables[g], m,
                                          a.levels[l], a.smoothstep);
      }
    }
  }
  if (a.grad_x != nullptr)
    for (int g = 0; g < G; ++g)  // grids add their d/dx one after the other: a fixed order
      backward_x<D, F, T>(inputs[g], a.tables[g], a.grad_out + static_cast<int64_t>(g) * L * F, row_stride, a.grad_x,
                          a.n, a.levels, L, a.smoothstep);
}

template <int D, typename T>
bool dispatch_features(int F, const Call<T>& a) {
  switch (F) {
    case 1: run<D, 1, T>(a); return true;
    case 2: run<D, 2, T>(a); return true;
    case 4: run<D, 4, T>(a); return true;
    case 8: run<D, 8, T>(a); return true;
    default: return false;
  }
}

template <typename T>
bool dispatch(const Call<T>& a) {
  switch (a.n_dims) {
    case 2: return dispatch_features<2, T>(a.n_features, a);
    case 3: return dispatch_features<3, T>(a.n_features, a);
    default: return false;
  }
}

}  // namespace talkface_hashgrid_cpu

template <typename T>
bool talkface_hashgrid_cpu_run(const talkface_hashgrid_cpu::Call<T>& call) {
  return talkface_hashgrid_cpu::dispatch<T>(call);
}

template bool talkface_hashgrid_cpu_run<float>(const talkface_hashgrid_cpu::Call<float>&);
template bool talkface_hashgrid_cpu_run<double>(const talkface_hashgrid_cpu::Call<double>&);

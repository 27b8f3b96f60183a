// Torch glue for hashgrid_cpu.cpp: checks tensors, allocates outputs and registers the operators
// torch.ops.talkface_hashgrid_cpu.forward and .backward.
//
// Only the ATen core headers and the operator registry are included (not torch/extension.h, which
// pulls in the whole C++ frontend and pybind11), so the cold build takes seconds, not a minute.
//
// Explained in notebooks/02_hash_encoding.ipynb.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <cstdint>
#include <tuple>
#include <vector>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "hashgrid_cpu.h"

namespace {

// A new output tensor. Large ones are first advised to use transparent huge pages (Linux, where THP
// is in "madvise" mode): a fresh buffer otherwise costs one page fault per 4 KiB on first touch, about
// a third of a tri-plane forward pass at 2^18 points. Advice only; the memory is torch's as usual.
at::Tensor new_output(at::IntArrayRef sizes, const at::TensorOptions& opts, bool zero) {
  at::Tensor t = at::empty(sizes, opts);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(t.data_ptr()), end = begin + t.nbytes();
  const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1), last = end & ~(kHuge - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
  if (zero) t.zero_();
  return t;
}

using talkface_hashgrid_cpu::Call;
using talkface_hashgrid_cpu::Level;

constexpr int64_t kMaxLevels = 32;

std::vector<Level> make_levels(at::IntArrayRef offsets, at::IntArrayRef sizes, at::IntArrayRef resolutions,
                               at::IntArrayRef hashed, at::ArrayRef<double> scales) {
  const size_t n = offsets.size();
  TORCH_CHECK(n >= 1 && static_cast<int64_t>(n) <= kMaxLevels, "hashgrid_cpu: 1..32 levels supported, got ", n);
  TORCH_CHECK(sizes.size() == n && resolutions.size() == n && hashed.size() == n && scales.size() == n,
              "hashgrid_cpu: per-level lists must have the same length");
  std::vector<Level> levels(n);
  for (size_t l = 0; l < n; ++l) {
    TORCH_CHECK(offsets[l] >= 0 && offsets[l] < (int64_t(1) << 32), "hashgrid_cpu: level offset out of uint32 range");
    TORCH_CHECK(sizes[l] > 0 && sizes[l] < (int64_t(1) << 32), "hashgrid_cpu: level size out of uint32 range");
    TORCH_CHECK(resolutions[l] > 0 && resolutions[l] < (int64_t(1) << 32), "hashgrid_cpu: resolution out of range");
    TORCH_CHECK(!hashed[l] || (sizes[l] & (sizes[l] - 1)) == 0, "hashgrid_cpu: a hashed level must own 2^T rows");
    levels[l] = Level{static_cast<uint32_t>(offsets[l]), static_cast<uint32_t>(sizes[l]),
                      static_cast<uint32_t>(resolutions[l]), hashed[l] ? 1u : 0u, scales[l]};
  }
  return levels;
}

struct Shape {
  int64_t n, n_axes, D, F, G, L;
};

// x (n, X) and G tables (rows, F), all contiguous CPU tensors of one dtype (float32 or float64); axes (G * D,).
Shape check_inputs(const at::Tensor& x, at::IntArrayRef axes, const std::vector<at::Tensor>& tables,
                   const std::vector<Level>& levels) {
  TORCH_CHECK(!tables.empty(), "hashgrid_cpu: give at least one table");
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous() && x.dim() == 2, "hashgrid_cpu: x must be a contiguous CPU (N, X)");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, "hashgrid_cpu: x must be float32 or float64");
  const int64_t G = static_cast<int64_t>(tables.size());
  TORCH_CHECK(axes.size() % G == 0, "hashgrid_cpu: axes must hold D entries per table");
  const int64_t D = static_cast<int64_t>(axes.size()) / G;
  TORCH_CHECK(D == 2 || D == 3, "hashgrid_cpu: grids must be 2D or 3D, got D=", D);
  for (int64_t a : axes) TORCH_CHECK(a >= 0 && a < x.size(1), "hashgrid_cpu: axis ", a, " is not a column of x");
  const int64_t F = tables[0].size(-1);
  TORCH_CHECK(F == 1 || F == 2 || F == 4 || F == 8, "hashgrid_cpu: F must be 1, 2, 4 or 8, got ", F);
  const int64_t rows = static_cast<int64_t>(levels.back().offset) + levels.back().size;
  for (const at::Tensor& t : tables) {
    TORCH_CHECK(t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == x.scalar_type(),
                "hashgrid_cpu: tables must be contiguous CPU tensors of the dtype of x");
    TORCH_CHECK(t.dim() == 2 && t.size(0) == rows && t.size(1) == F, "hashgrid_cpu: table must be (", rows, ", ", F,
                ") for these levels, got ", t.sizes());
  }
  return Shape{x.size(0), x.size(1), D, F, G, static_cast<int64_t>(levels.size())};
}

template <typename T>
bool run(Call<T> call, const at::Tensor& x, at::IntArrayRef axes, const std::vector<at::Tensor>& tables,
         const std::vector<Level>& levels, const Shape& s, const std::vector<int>& axes32) {
  std::vector<const T*> table_ptrs;
  for (const at::Tensor& t : tables) table_ptrs.push_back(t.data_ptr<T>());
  call.n_dims = static_cast<int>(s.D);
  call.n_features = static_cast<int>(s.F);
  call.n_grids = static_cast<int>(s.G);
  call.n = s.n;
  call.x = x.data_ptr<T>();
  call.x_stride = s.n_axes;
  call.axes = axes32.data();
  call.tables = table_ptrs.data();
  call.levels = levels.data();
  call.n_levels = static_cast<int>(s.L);
  return talkface_hashgrid_cpu_run<T>(call);
}

at::Tensor forward(const at::Tensor& x, at::IntArrayRef axes, const std::vector<at::Tensor>& tables,
                   at::IntArrayRef offsets, at::IntArrayRef sizes, at::IntArrayRef resolutions, at::IntArrayRef hashed,
                   at::ArrayRef<double> scales, bool smoothstep) {
  const std::vector<Level> levels = make_levels(offsets, sizes, resolutions, hashed, scales);
  const Shape s = check_inputs(x, axes, tables, levels);
  const std::vector<int> axes32(axes.begin(), axes.end());
  at::Tensor out = new_output({s.n, s.G * s.L * s.F}, x.options(), false);
  bool ok;
  if (x.scalar_type() == at::kFloat) {
    Call<float> call{};
    call.smoothstep = smoothstep;
    call.out = out.data_ptr<float>();
    ok = run<float>(call, x, axes, tables, levels, s, axes32);
  } else {
    Call<double> call{};
    call.smoothstep = smoothstep;
    call.out = out.data_ptr<double>();
    ok = run<double>(call, x, axes, tables, levels, s, axes32);
  }
  TORCH_CHECK(ok, "hashgrid_cpu: no kernel for D=", s.D, ", F=", s.F);
  return out;
}

// Returns (one (rows, F) gradient per table, or none when not needed; (N, X) gradient of x, or an empty tensor).
template <typename T>
bool backward_typed(const at::Tensor& grad_out, const at::Tensor& x, at::IntArrayRef axes,
                    const std::vector<at::Tensor>& tables, const std::vector<Level>& levels, const Shape& s,
                    bool smoothstep, std::vector<at::Tensor>& grad_tables, at::Tensor& grad_x) {
  std::vector<T*> grad_ptrs;
  for (at::Tensor& t : grad_tables) grad_ptrs.push_back(t.data_ptr<T>());
  Call<T> call{};
  call.smoothstep = smoothstep;
  call.grad_out = grad_out.data_ptr<T>();
  call.grad_tables = grad_tables.empty() ? nullptr : grad_ptrs.data();
  call.grad_x = grad_x.numel() ? grad_x.data_ptr<T>() : nullptr;
  const std::vector<int> axes32(axes.begin(), axes.end());
  return run<T>(call, x, axes, tables, levels, s, axes32);
}

std::tuple<std::vector<at::Tensor>, at::Tensor> backward(const at::Tensor& grad_out, const at::Tensor& x,
                                                         at::IntArrayRef axes, const std::vector<at::Tensor>& tables,
                                                         at::IntArrayRef offsets, at::IntArrayRef sizes,
                                                         at::IntArrayRef resolutions, at::IntArrayRef hashed,
                                                         at::ArrayRef<double> scales, bool smoothstep,
                                                         bool need_tables, bool need_x) {
  const std::vector<Level> levels = make_levels(offsets, sizes, resolutions, hashed, scales);
  const Shape s = check_inputs(x, axes, tables, levels);
  TORCH_CHECK(grad_out.device().is_cpu() && grad_out.scalar_type() == x.scalar_type() && grad_out.is_contiguous(),
              "hashgrid_cpu: grad_out must be a contiguous CPU tensor of the dtype of x");
  TORCH_CHECK(grad_out.dim() == 2 && grad_out.size(0) == s.n && grad_out.size(1) == s.G * s.L * s.F,
              "hashgrid_cpu: grad_out must be (N, G * L * F)");
  const auto opts = x.options();
  std::vector<at::Tensor> grad_tables;
  if (need_tables)
    for (const at::Tensor& t : tables) grad_tables.push_back(new_output(t.sizes(), opts, true));
  at::Tensor grad_x = need_x ? new_output(x.sizes(), opts, true) : at::empty({0}, opts);
  const bool ok = x.scalar_type() == at::kFloat
                      ? backward_typed<float>(grad_out, x, axes, tables, levels, s, smoothstep, grad_tables, grad_x)
                      : backward_typed<double>(grad_out, x, axes, tables, levels, s, smoothstep, grad_tables, grad_x);
  TORCH_CHECK(ok, "hashgrid_cpu: no kernel for D=", s.D, ", F=", s.F);
  return {grad_tables, grad_x};
}

}  // namespace

TORCH_LIBRARY(talkface_hashgrid_cpu, m) {
  m.def("forward(Tensor x, int[] axes, Tensor[] tables, int[] offsets, int[] sizes, int[] resolutions, "
        "int[] hashed, float[] scales, bool smoothstep) -> Tensor");
  m.def("backward(Tensor grad_out, Tensor x, int[] axes, Tensor[] tables, int[] offsets, int[] sizes, "
        "int[] resolutions, int[] hashed, float[] scales, bool smoothstep, bool need_tables, bool need_x) "
        "-> (Tensor[], Tensor)");
  m.impl("forward", c10::DispatchKey::CPU, TORCH_FN(forward));
  m.impl("backward", c10::DispatchKey::CPU, TORCH_FN(backward));
}

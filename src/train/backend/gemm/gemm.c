// wit's single-precision GEMM for the tfjs wasm backend: C[b] = op(A[b]) · op(B[b]) (+ bias), on the
// backend's own (shared) linear memory, one row range or batch range per call so that several
// threads (Node workers instantiating this module on the same memory) split one product.
//
// Built with clang (no libc, no data segment) by build.sh into ../gemm-wasm.ts; see ../README.md.
// Element (i, k) of op(A) is at A[i*rsa + k*csa], element (k, j) of op(B) at B[k*rsb + j*csb]: the
// strides express both transposes. B is packed per KC-deep block into NR-wide column panels and A
// MR rows at a time, k-major (both zero padded), in `scratch`; the 4x8 micro-tile then loads one
// vector of A per k and splats its lanes by shuffles (a splat load per row costs an address add each).
#include <wasm_simd128.h>
#include <stdint.h>

#define MR 4
#define NR 8
#define KC 256

typedef float f32;

static void pack_b(const f32* B, int rsb, int csb, int kc, int n, f32* dst) {
  for (int j0 = 0; j0 < n; j0 += NR) {
    const int nr = n - j0 < NR ? n - j0 : NR;
    if (nr == NR && csb == 1) {
      for (int k = 0; k < kc; k++) {
        const f32* src = B + k * rsb + j0;
        wasm_v128_store(dst, wasm_v128_load(src));
        wasm_v128_store(dst + 4, wasm_v128_load(src + 4));
        dst += NR;
      }
    } else {
      for (int k = 0; k < kc; k++) {
        const f32* src = B + k * rsb + j0 * csb;
        int c = 0;
        for (; c < nr; c++) dst[c] = src[c * csb];
        for (; c < NR; c++) dst[c] = 0.0f;
        dst += NR;
      }
    }
  }
}

#ifdef WIT_FMA
// Relaxed SIMD's f32x4.relaxed_madd (a * b + c). clang 14 only knows the proposal's prototype opcode
// (f32x4.fma, 0xaf), which build.sh rewrites to the final 0x105 with the same operand order as here.
#define MADD(a, b, c) __builtin_wasm_fma_f32x4(a, b, c)
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#endif

#define ACC(r) v128_t c##r##0 = zero, c##r##1 = zero;
#define STEP(r)                                                  \
  {                                                              \
    const v128_t a = wasm_i32x4_shuffle(av, av, r, r, r, r);     \
    c##r##0 = MADD(a, b0, c##r##0);                              \
    c##r##1 = MADD(a, b1, c##r##1);                              \
  }

// A's rows [i, i + mr) over kc, packed k-major (MR values per k, zero padded).
static void pack_a(const f32* A, int rsa, int csa, int mr, int kc, f32* dst) {
  if (mr == MR && csa == 1) {
    for (int r = 0; r < MR; r++) {
      const f32* src = A + r * rsa;
      f32* d = dst + r;
      for (int k = 0; k < kc; k++) d[k * MR] = src[k];
    }
    return;
  }
  if (mr == MR && rsa == 1) {
    for (int k = 0; k < kc; k++) wasm_v128_store(dst + k * MR, wasm_v128_load(A + k * csa));
    return;
  }
  for (int k = 0; k < kc; k++) {
    int r = 0;
    for (; r < mr; r++) dst[r] = A[r * rsa + k * csa];
    for (; r < MR; r++) dst[r] = 0.0f;
    dst += MR;
  }
}

// One MR x NR tile over kc from packed A (ap) and packed B (bp).
// accumulate 0: C = acc (+ bias), 1: C += acc.
static void tile(int kc, const f32* ap, const f32* bp, f32* c, int ldc, int mr, int nr, int accumulate,
                 const f32* bias) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  ACC(0) ACC(1) ACC(2) ACC(3)
  for (int k = 0; k < kc; k++) {
    const v128_t b0 = wasm_v128_load(bp);
    const v128_t b1 = wasm_v128_load(bp + 4);
    const v128_t av = wasm_v128_load(ap);
    bp += NR;
    ap += MR;
    STEP(0) STEP(1) STEP(2) STEP(3)
  }
  v128_t rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
  if (bias) {
    v128_t bv0, bv1;
    if (nr == NR) {
      bv0 = wasm_v128_load(bias);
      bv1 = wasm_v128_load(bias + 4);
    } else {
      f32 t[NR];
      for (int j = 0; j < NR; j++) t[j] = j < nr ? bias[j] : 0.0f;
      bv0 = wasm_v128_load(t);
      bv1 = wasm_v128_load(t + 4);
    }
    for (int r = 0; r < MR; r++) {
      rows[r][0] = wasm_f32x4_add(rows[r][0], bv0);
      rows[r][1] = wasm_f32x4_add(rows[r][1], bv1);
    }
  }
  for (int r = 0; r < mr; r++) {
    f32* cr = c + r * ldc;
    if (nr == NR) {
      if (accumulate) {
        wasm_v128_store(cr, wasm_f32x4_add(wasm_v128_load(cr), rows[r][0]));
        wasm_v128_store(cr + 4, wasm_f32x4_add(wasm_v128_load(cr + 4), rows[r][1]));
      } else {
        wasm_v128_store(cr, rows[r][0]);
        wasm_v128_store(cr + 4, rows[r][1]);
      }
    } else {
      f32 t[NR];
      wasm_v128_store(t, rows[r][0]);
      wasm_v128_store(t + 4, rows[r][1]);
      for (int j = 0; j < nr; j++) cr[j] = accumulate ? cr[j] + t[j] : t[j];
    }
  }
}

// Rows [i0, i1) x columns [j0, j1) (j0 a multiple of NR) of C for batches [b0, b1). Batch strides of 0
// broadcast an operand. scratch holds KC * (MR + roundup(j1 - j0, NR)) floats. bias (indexed by
// column) or 0.
__attribute__((export_name("gemm"))) void gemm(int b0, int b1, int i0, int i1, int j0, int j1, int k,
                                              const f32* A, int sa, int rsa, int csa, const f32* B, int sb,
                                              int rsb, int csb, f32* C, int sc, int ldc, const f32* bias,
                                              f32* scratch) {
  for (int b = b0; b < b1; b++) {
    const f32* Ab = A + (intptr_t)b * sa;
    const f32* Bb = B + (intptr_t)b * sb;
    f32* Cb = C + (intptr_t)b * sc;
    for (int p0 = 0; p0 < k; p0 += KC) {
      const int kc = k - p0 < KC ? k - p0 : KC;
      f32* apack = scratch;
      f32* bpack = scratch + KC * MR;
      pack_b(Bb + (intptr_t)p0 * rsb + (intptr_t)j0 * csb, rsb, csb, kc, j1 - j0, bpack);
      const int accumulate = p0 > 0;
      const f32* bias_here = p0 == 0 ? bias : 0;
      for (int i = i0; i < i1; i += MR) {
        const int mr = i1 - i < MR ? i1 - i : MR;
        pack_a(Ab + (intptr_t)i * rsa + (intptr_t)p0 * csa, rsa, csa, mr, kc, apack);
        const f32* bp = bpack;
        for (int j = j0; j < j1; j += NR) {
          const int nr = j1 - j < NR ? j1 - j : NR;
          tile(kc, apack, bp, Cb + (intptr_t)i * ldc + j, ldc, mr, nr, accumulate, bias_here ? bias_here + j : 0);
          bp += kc * NR;
        }
      }
    }
  }
}

// out[j] = sum over i of x[i * cols + j] (a Sum over leading axes: bias and LayerNorm gradients).
// One pass in memory order, the running sums (out) staying in L1; rows taken two at a time.
__attribute__((export_name("colsum"))) void colsum(const f32* x, int rows, int cols, f32* out) {
  const int cv = cols & ~3;
  for (int j = 0; j < cols; j++) out[j] = 0.0f;
  int i = 0;
  for (; i + 2 <= rows; i += 2) {
    const f32* p = x + (intptr_t)i * cols;
    const f32* q = p + cols;
    int j = 0;
    for (; j < cv; j += 4) {
      wasm_v128_store(out + j, wasm_f32x4_add(wasm_v128_load(out + j), wasm_f32x4_add(wasm_v128_load(p + j), wasm_v128_load(q + j))));
    }
    for (; j < cols; j++) out[j] += p[j] + q[j];
  }
  for (; i < rows; i++) {
    const f32* p = x + (intptr_t)i * cols;
    for (int j = 0; j < cols; j++) out[j] += p[j];
  }
}

// rows copies of row_bytes bytes, from src + r * src_stride to dst + r * dst_stride (bytes): the
// contiguous runs of Slice, SplitV and Concat. Regions do not overlap (distinct tensors).
__attribute__((export_name("copy2d"))) void copy2d(char* dst, int dst_stride, const char* src, int src_stride,
                                                  int rows, int row_bytes) {
  for (int r = 0; r < rows; r++) {
    __builtin_memcpy(dst, src, (unsigned long)row_bytes);
    dst += dst_stride;
    src += src_stride;
  }
}

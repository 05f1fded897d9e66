#!/usr/bin/env python3
"""PyTorch peer of bench/embed.ts: CLIP ViT-B/32 (random weights, open_clip's layers: Conv2d patch
embedding, LayerNorm, nn.MultiheadAttention, QuickGELU MLP) embedding images at 224 px and 77-token
texts on the CPU under torch.inference_mode. Debian's torch needs libopenblas0-pthread to be fast
(else it runs the reference BLAS, ~10x slower); pip's torch brings MKL and oneDNN. The BLAS libraries
loaded, torch.__config__.show()'s BLAS, oneDNN and CPU capability, and whether oneDNN is usable are reported, timed as the TypeScript side (median over --repeat
timed batches after --warmup). Prints one JSON line, with the process's peak resident memory (peak_rss_mb).

  /usr/bin/python3 bench/embed_torch.py [--batch 8 --threads 2 --repeat 5 --warmup 1]
"""
import argparse, json, os, re, statistics, sys, time

def _threads():
    for i, a in enumerate(sys.argv):
        if a == '--threads' and i + 1 < len(sys.argv): return sys.argv[i + 1]
    return '2'
os.environ.setdefault('OPENBLAS_NUM_THREADS', _threads())
os.environ.setdefault('OMP_NUM_THREADS', _threads())
os.environ.setdefault('MKL_NUM_THREADS', _threads())

import torch
from torch import nn

class QuickGELU(nn.Module):
    def forward(self, x): return x * torch.sigmoid(1.702 * x)

class Block(nn.Module):
    def __init__(self, d, heads, mask=None):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), QuickGELU(), nn.Linear(4 * d, d))
        self.mask = mask
    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=self.mask)[0]
        return x + self.mlp(self.ln_2(x))

class Clip(nn.Module):
    def __init__(self):
        super().__init__()
        W, p, E = 768, 32, 512
        self.conv1 = nn.Conv2d(3, W, p, p, bias=False)
        self.cls = nn.Parameter(torch.randn(W) * 0.02)
        self.vpos = nn.Parameter(torch.randn(50, W) * 0.02)
        self.ln_pre, self.ln_post = nn.LayerNorm(W), nn.LayerNorm(W)
        self.visual = nn.Sequential(*[Block(W, 12) for _ in range(12)])
        self.vproj = nn.Parameter(torch.randn(W, E) * W ** -0.5)
        Wt, L = 512, 77
        self.tok = nn.Embedding(49408, Wt)
        self.tpos = nn.Parameter(torch.randn(L, Wt) * 0.01)
        mask = torch.full((L, L), float('-inf')).triu(1)
        self.text = nn.Sequential(*[Block(Wt, 8, mask) for _ in range(12)])
        self.ln_final = nn.LayerNorm(Wt)
        self.tproj = nn.Parameter(torch.randn(Wt, E) * Wt ** -0.5)
    def image(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.vpos
        x = self.ln_post(self.visual(self.ln_pre(x))[:, 0])
        return nn.functional.normalize(x @ self.vproj, dim=-1)
    def texts(self, ids):
        x = self.text(self.tok(ids) + self.tpos)
        x = self.ln_final(x)[torch.arange(ids.shape[0]), ids.argmax(-1)]
        return nn.functional.normalize(x @ self.tproj, dim=-1)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeat', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = Clip().eval()
    images = torch.randn(a.batch, 3, 224, 224)
    ids = torch.randint(1, 49000, (a.batch, 77))
    ids[:, 20] = 49407
    def timed(fn):
        # Items per second of wall time and per CPU-second of this process (all threads), medians.
        for _ in range(a.warmup): fn()
        ts, cs = [], []
        for _ in range(a.repeat):
            c = time.process_time(); t = time.perf_counter(); fn()
            ts.append(time.perf_counter() - t); cs.append(time.process_time() - c)
        return a.batch / statistics.median(ts), a.batch / statistics.median(cs)
    with torch.inference_mode():
        img, img_cpu = timed(lambda: m.image(images))
        txt, txt_cpu = timed(lambda: m.texts(ids))
    with open('/proc/self/maps') as f:
        blas = sorted({line.split()[-1] for line in f if any(w in line.lower() for w in ('blas', 'libmkl', 'dnnl')) and 'numpy' not in line})
    import resource
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({'images_per_s': img, 'texts_per_s': txt, 'images_per_cpu_s': img_cpu, 'texts_per_cpu_s': txt_cpu, 'threads': torch.get_num_threads(), 'torch': torch.__version__, 'peak_rss_mb': peak_mb,
                      'blas': blas, **build_info()}))

def build_info():
    """What torch.__config__.show() says about the BLAS, oneDNN and the CPU code path, and whether oneDNN is usable."""
    show = torch.__config__.show()
    def field(pattern):
        m = re.search(pattern, show)
        return m.group(1).strip() if m else ''
    mkl = field(r'(Intel\(R\) (?:oneAPI )?Math Kernel Library Version [^\n]*)')
    return {
        'blas_info': ', '.join(x for x in (field(r'BLAS_INFO=([^,\n]*)'), mkl) if x),
        'mkldnn': bool(torch.backends.mkldnn.is_available()),
        'onednn': field(r'((?:Intel\(R\) )?MKL-DNN v[^\n(]*|oneDNN v[^\n(]*)'),
        'cpu_capability': field(r'CPU capability usage: ([^\n]*)'),
    }

if __name__ == '__main__':
    main()

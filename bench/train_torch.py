#!/usr/bin/env python3
"""PyTorch peer of bench/train.ts: the same CLIP (vit-tiny), batch and step (forward, backward, gradient clipping at norm 1, AdamW, logit-scale clamp)
on the CPU, timed the same way (median ms/step over --steps after --warmup).

Needs Debian's python3-torch with libopenblas0-pthread (apt-get install -y python3-torch
libopenblas0-pthread); without OpenBLAS Debian's torch runs the reference BLAS. The BLAS actually
loaded is read from /proc/self/maps and reported.

  /usr/bin/python3 bench/train_torch.py [--batch 64 --steps 5 --warmup 2 --threads 2 --json]
"""
import argparse
import json
import math
import os
import statistics
import sys
import time


def _threads_from_argv():
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "2"


# OpenBLAS sizes its own pthread pool when loaded: make it match --threads (torch.set_num_threads
# only sizes the OpenMP pool), else a 1-thread run still multiplies on every core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads_from_argv())
# OpenMP's default active wait spins idle threads; on a machine shared with other jobs that made a
# 2-thread step ~10x slower (5.9 s vs 0.55 s measured here). Passive waiting is the fair peer.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

# vit-tiny (src/train/configs/vit-tiny.json)
ARCH = dict(
    embed_dim=128,
    vision=dict(image_size=64, patch_size=8, width=128, layers=4, heads=4, mlp_ratio=4),
    text=dict(context_length=32, vocab_size=4096, width=128, heads=4, layers=4, mlp_ratio=4),
)


class Block(nn.Module):
    """Pre-LN residual block of CLIP's Transformer: x + attn(ln_1(x)), x + mlp(ln_2(x)), quick_gelu."""

    def __init__(self, width, heads, mlp_ratio):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width * mlp_ratio)
        self.fc2 = nn.Linear(width * mlp_ratio, width)

    def attention(self, x, mask):
        b, t, d = x.shape
        dh = d // self.heads
        qkv = self.qkv(x).view(b, t, 3, self.heads, dh).permute(2, 0, 3, 1, 4)  # [3, B, H, T, dh]
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(-1, -2)) * dh**-0.5
        if mask is not None:
            scores = scores + mask
        o = scores.softmax(-1) @ v  # [B, H, T, dh]
        return self.out(o.transpose(1, 2).reshape(b, t, d))

    def forward(self, x, mask):
        x = x + self.attention(self.ln_1(x), mask)
        h = self.fc1(self.ln_2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))


class Clip(nn.Module):
    def __init__(self, a):
        super().__init__()
        v, t = a["vision"], a["text"]
        self.patch = v["patch_size"]
        grid = v["image_size"] // v["patch_size"]
        self.conv = nn.Conv2d(3, v["width"], v["patch_size"], v["patch_size"], bias=False)
        self.cls = nn.Parameter(torch.randn(v["width"]) * v["width"] ** -0.5)
        self.vpos = nn.Parameter(torch.randn(grid * grid + 1, v["width"]) * v["width"] ** -0.5)
        self.ln_pre = nn.LayerNorm(v["width"])
        self.vblocks = nn.ModuleList(Block(v["width"], v["heads"], v["mlp_ratio"]) for _ in range(v["layers"]))
        self.ln_post = nn.LayerNorm(v["width"])
        self.vproj = nn.Parameter(torch.randn(v["width"], a["embed_dim"]) * v["width"] ** -0.5)
        self.embed = nn.Embedding(t["vocab_size"], t["width"])
        self.tpos = nn.Parameter(torch.randn(t["context_length"], t["width"]) * 0.01)
        self.tblocks = nn.ModuleList(Block(t["width"], t["heads"], t["mlp_ratio"]) for _ in range(t["layers"]))
        self.ln_final = nn.LayerNorm(t["width"])
        self.tproj = nn.Parameter(torch.randn(t["width"], a["embed_dim"]) * t["width"] ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        ctx = t["context_length"]
        self.register_buffer("mask", torch.full((ctx, ctx), float("-inf")).triu(1))

    def encode_image(self, images):  # [B, 3, H, W]
        x = self.conv(images).flatten(2).transpose(1, 2)  # [B, grid², width]
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.vpos
        x = self.ln_pre(x)
        for blk in self.vblocks:
            x = blk(x, None)
        return self.ln_post(x[:, 0]) @ self.vproj

    def encode_text(self, tokens, eos):
        x = self.embed(tokens) + self.tpos
        for blk in self.tblocks:
            x = blk(x, self.mask)
        x = self.ln_final(x[torch.arange(x.shape[0]), eos])
        return x @ self.tproj

    def loss(self, images, tokens, eos):
        img = F.normalize(self.encode_image(images), dim=-1)
        txt = F.normalize(self.encode_text(tokens, eos), dim=-1)
        logits = self.logit_scale.exp().clamp(max=100) * img @ txt.t()
        labels = torch.arange(img.shape[0])
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def loaded_blas():
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() or "lapack" in line.lower()}
    return sorted(l for l in libs if l.startswith("/"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = Clip(ARCH)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.2)
    v, t = ARCH["vision"], ARCH["text"]
    images = torch.randn(args.batch, 3, v["image_size"], v["image_size"])
    tokens = torch.randint(1, t["vocab_size"] - 1, (args.batch, t["context_length"]))
    eos = torch.randint(t["context_length"] // 2, t["context_length"] - 1, (args.batch,))
    times = []
    cpu = []
    loss = float("nan")
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        l = model.loss(images, tokens, eos)
        l.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        loss = l.item()
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    blas = loaded_blas()
    detail = (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
        f"BLAS: {', '.join(blas) or 'none found in /proc/self/maps'}"
    )
    result = dict(label="pytorch (cpu)", msPerStep=statistics.median(times), cpuMsPerStep=statistics.median(cpu), loss=loss, detail=detail)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['msPerStep']:.0f} ms/step ({result['cpuMsPerStep']:.0f} ms CPU), loss {loss:.4f}; {detail}")


if __name__ == "__main__":
    main()

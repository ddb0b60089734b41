#!/usr/bin/env python3
"""Measure a step profile (kvsim run --step-profile FILE.csv) on your own GPU.

A plain PyTorch forward pass of a Llama-family decoder (random weights, no
download, no serving engine): for each step shape of a template profile
(by default the example catalog/profiles/h100-sxm_llama-3.1-8b_roofline.csv,
whose shapes kvsim's profile fit expects), it builds the batch the shape
describes, times the step on the GPU and writes the shape with its
measured step_ms, in the format README "Measured step profiles" gives.

What a step is here: the embedding gather, per layer RMSNorm, the fused
q/k/v product, rotary embedding, the new K/V written into a cache,
attention over the cache (torch's scaled_dot_product_attention, grouped
heads kept grouped), the output product, RMSNorm, the gate/up product,
SiLU x up, the down product; the final norm, the LM head at each
sequence's last position and an argmax. Steps of up to 512 tokens are
replayed as a CUDA graph (as vLLM V1 replays them), longer ones run
eagerly.
No scheduler or sampler host time (a profile replaces every term of
kvsim's model, the host's too: README, Measured step profiles), so the
steps are a lower bound on an engine's there.

    python3 bench/profile_steps.py --model llama-3.1-8b --out my.csv
    kvsim run --step-profile my.csv --gpu h200 --model llama-3.1-8b ...

Needs PyTorch 2.5 or later with CUDA (scaled_dot_product_attention with
enable_gqa). Rows whose KV and weights do not fit the GPU are left out
and counted on stderr. --device cpu runs the same code on the CPU (for a
test of the script itself, with --layers and the size options small).
"""
import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import time

import torch

# Llama-family shapes (config.json's fields), as kvsim's catalog holds them.
MODELS = {
    "llama-3.1-8b": dict(hidden=4096, layers=32, heads=32, kv_heads=8, head_dim=128,
                         intermediate=14336, vocab=128256),
    "llama-3.2-1b": dict(hidden=2048, layers=16, heads=32, kv_heads=8, head_dim=64,
                         intermediate=8192, vocab=128256),
    "llama-3.2-3b": dict(hidden=3072, layers=28, heads=24, kv_heads=8, head_dim=128,
                         intermediate=8192, vocab=128256),
    "llama-2-7b": dict(hidden=4096, layers=32, heads=32, kv_heads=32, head_dim=128,
                       intermediate=11008, vocab=32000),
}

HERE = os.path.dirname(os.path.abspath(__file__))
GRAPH_MAX_TOKENS = 512
TEMPLATE = os.path.join(HERE, "..", "catalog", "profiles", "h100-sxm_llama-3.1-8b_roofline.csv")


def die(msg):
    sys.stderr.write("profile_steps: %s\n" % msg)
    sys.exit(2)


def read_shapes(path):
    """The template's shapes: (prefill_tokens, decode_seqs, decode_context_tokens,
    prefill_context_tokens), in its order."""
    try:
        f = open(path, newline="")
    except OSError as e:
        die("%s: cannot open: %s" % (path, e.strerror))
    rows = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
    f.close()
    shapes = []
    reader = csv.DictReader(rows)
    for k, r in enumerate(reader, start=2):
        try:
            p = int(r["prefill_tokens"])
            n = int(r["decode_seqs"])
            d = int(r["decode_context_tokens"])
            c = int(r.get("prefill_context_tokens") or 0)
        except (KeyError, TypeError, ValueError):
            die("%s: data row %d: expected integer prefill_tokens, decode_seqs, "
                "decode_context_tokens" % (path, k))
        if (p > 0) == (n > 0) or p < 0 or n < 0 or d < 0 or c < 0:
            die("%s: data row %d: one kind of step per row (prompt tokens or decodes)" % (path, k))
        if n > 0 and d % n != 0:
            die("%s: data row %d: decode_context_tokens %d is not decode_seqs %d x a context"
                % (path, k, d, n))
        shapes.append((p, n, d, c))
    if not shapes:
        die("%s: no step shapes" % path)
    return shapes


class Model:
    """Random weights of the given shape, in DTYPE on DEVICE."""

    def __init__(self, cfg, dtype, device, seed):
        g = torch.Generator(device="cpu").manual_seed(seed)
        self.cfg = cfg
        h, hd = cfg["hidden"], cfg["head_dim"]
        qkv = (cfg["heads"] + 2 * cfg["kv_heads"]) * hd

        def w(*shape):
            t = torch.randn(*shape, generator=g, dtype=torch.float32) * 0.02
            return t.to(device=device, dtype=dtype)

        self.embed = w(cfg["vocab"], h)
        self.head = w(cfg["vocab"], h)
        self.layers = []
        for _ in range(cfg["layers"]):
            self.layers.append(dict(
                qkv=w(qkv, h), o=w(h, cfg["heads"] * hd),
                gate_up=w(2 * cfg["intermediate"], h), down=w(h, cfg["intermediate"]),
                n1=torch.ones(h, device=device, dtype=dtype),
                n2=torch.ones(h, device=device, dtype=dtype)))
        self.norm = torch.ones(h, device=device, dtype=dtype)
        inv = 1.0 / (500000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        self.inv_freq = inv.to(device)


def rms(x, w):
    v = x.float().pow(2).mean(-1, keepdim=True)
    return (x.float() * torch.rsqrt(v + 1e-5)).to(x.dtype) * w


def rope(x, pos, inv_freq):
    # x [B, H, T, D]; pos [B, T]
    ang = pos.float()[:, None, :, None] * inv_freq[None, None, None, :]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


def attention(q, k, v, causal_from):
    """q [B, H, T, D] against k, v [B, KV, S, D]; query t sees keys up to
    causal_from + t (None: all)."""
    if hasattr(torch.nn.functional, "scaled_dot_product_attention") and q.is_cuda:
        if causal_from is None:
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        if causal_from == 0:  # a prompt from scratch: the fused causal kernels
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                    enable_gqa=True)
        # A chunk after cached tokens: the causal mask aligned bottom-right.
        # Flash attention takes no mask, and the memory-efficient kernel
        # no grouped heads, so the KV heads are repeated out to the query
        # heads (a copy the step pays) to keep off the math backend, which
        # would materialise every score.
        from torch.nn.attention.bias import causal_lower_right

        rep = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=causal_lower_right(q.shape[2], k.shape[2]))
    # The same arithmetic written out (older PyTorch, the CPU test).
    rep = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal_from is not None:
        t, n = s.shape[-2], s.shape[-1]
        mask = torch.ones(t, n, dtype=torch.bool, device=q.device).tril(diagonal=causal_from)
        s = s.masked_fill(~mask, float("-inf"))
    return (s.softmax(-1) @ v.float()).to(q.dtype)


def step(m, cache_k, cache_v, tokens, start, last_only):
    """One forward step: TOKENS [B, T] at positions START.. of each
    sequence, written into the caches [L][B, KV, S, D] at those positions;
    returns the argmax token of each sequence's last position."""
    cfg = m.cfg
    b, t = tokens.shape
    hd, nh, nkv = cfg["head_dim"], cfg["heads"], cfg["kv_heads"]
    x = m.embed[tokens]
    pos = torch.arange(start, start + t, device=tokens.device)[None, :].expand(b, t)
    for li, lw in enumerate(m.layers):
        y = rms(x, lw["n1"])
        qkv = y @ lw["qkv"].t()
        q, k, v = qkv.split([nh * hd, nkv * hd, nkv * hd], dim=-1)
        q = rope(q.view(b, t, nh, hd).transpose(1, 2), pos, m.inv_freq)
        k = rope(k.view(b, t, nkv, hd).transpose(1, 2), pos, m.inv_freq)
        v = v.view(b, t, nkv, hd).transpose(1, 2)
        cache_k[li][:, :, start:start + t] = k
        cache_v[li][:, :, start:start + t] = v
        kk = cache_k[li][:, :, :start + t]
        vv = cache_v[li][:, :, :start + t]
        a = attention(q, kk, vv, None if t == 1 else start)
        x = x + a.transpose(1, 2).reshape(b, t, nh * hd) @ lw["o"].t()
        y = rms(x, lw["n2"])
        gu = y @ lw["gate_up"].t()
        g, u = gu.chunk(2, dim=-1)
        x = x + (torch.nn.functional.silu(g) * u) @ lw["down"].t()
    h = rms(x[:, -1:] if last_only else x, m.norm)
    return (h @ m.head.t()).argmax(-1)


def timed(fn, device, warmup, repeat):
    """Median milliseconds of FN over REPEAT runs after WARMUP."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            a = torch.cuda.Event(enable_timing=True)
            e = torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            e.record()
            e.synchronize()
            times.append(a.elapsed_time(e))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def measure(m, shape, dtype, device, args):
    p, n, d, c = shape
    cfg = m.cfg
    L, nkv, hd = cfg["layers"], cfg["kv_heads"], cfg["head_dim"]
    if n > 0:  # n sequences, each at context d / n (the new token included)
        b, ctx, t, start = n, d // n, 1, d // n - 1
    else:  # one prompt chunk of p tokens after c cached ones
        b, ctx, t, start = 1, c + p, p, c
    kv_bytes = 2 * L * b * nkv * ctx * hd * torch.tensor([], dtype=dtype).element_size()
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info()
        act = b * t * (cfg["hidden"] * 8 + cfg["intermediate"] * 4 + cfg["vocab"] * 4) * 4
        if kv_bytes + act > free * 0.9:
            return None
    ck = [torch.randn(b, nkv, ctx, hd, device=device, dtype=dtype) * 0.5 for _ in range(L)]
    cv = [torch.randn(b, nkv, ctx, hd, device=device, dtype=dtype) * 0.5 for _ in range(L)]
    tok = torch.randint(0, cfg["vocab"], (b, t), device=device)
    with torch.inference_mode():
        if b * t <= GRAPH_MAX_TOKENS and device.type == "cuda" and not args.eager:
            # Steps of up to 512 tokens as a CUDA graph, as vLLM V1 replays
            # them (max_cudagraph_capture_size 512), longer ones eagerly.
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(2):
                    step(m, ck, cv, tok, start, True)
            torch.cuda.current_stream().wait_stream(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step(m, ck, cv, tok, start, True)
            ms = timed(graph.replay, device, args.warmup, args.repeat)
            del graph
        else:
            ms = timed(lambda: step(m, ck, cv, tok, start, True), device, args.warmup,
                       args.repeat)
    del ck, cv, tok
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return ms


def conditions(device, args, cfg):
    lines = ["torch %s" % torch.__version__]
    if device.type == "cuda":
        lines.append("CUDA %s, %s" % (torch.version.cuda, torch.cuda.get_device_name(device)))
        try:
            drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                  "--format=csv,noheader"], capture_output=True, text=True,
                                 timeout=20).stdout.strip().splitlines()
            if drv:
                lines.append("driver %s" % drv[0])
        except (OSError, subprocess.SubprocessError):
            pass
    else:
        lines.append("CPU")
    return ", ".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="llama-3.1-8b", help="one of: " + ", ".join(MODELS))
    ap.add_argument("--template", default=TEMPLATE, help="a profile whose step shapes to measure")
    ap.add_argument("--out", required=True, help="the profile to write")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--eager", action="store_true", help="every step eagerly, no CUDA graphs")
    ap.add_argument("--layers", type=int, help="fewer layers (a test of the script)")
    ap.add_argument("--max-context", type=int, default=0,
                    help="leave out shapes reading more KV tokens than this (0: no limit)")
    ap.add_argument("--seed", type=int, default=0)
    for k in ("hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab"):
        ap.add_argument("--" + k.replace("_", "-"), type=int, help="override the model's " + k)
    args = ap.parse_args()
    if args.model not in MODELS:
        die("--model: unknown '%s' (one of: %s)" % (args.model, ", ".join(MODELS)))
    cfg = dict(MODELS[args.model])
    for k in ("layers", "hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab"):
        v = getattr(args, k, None)
        if v is not None:
            if v < 1:
                die("--%s: %d is not a positive size" % (k.replace("_", "-"), v))
            cfg[k] = v
    if args.repeat < 1 or args.warmup < 0 or args.max_context < 0:
        die("--repeat must be at least 1, --warmup and --max-context at least 0")
    if cfg["heads"] % cfg["kv_heads"] != 0:
        die("heads %d are not a multiple of kv_heads %d" % (cfg["heads"], cfg["kv_heads"]))
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        die("--device cuda: no CUDA device (torch.cuda.is_available() is False)")
    if device.type == "cuda":
        # Events, streams, graphs and mem_get_info use the current device:
        # make it the one asked for (--device cuda:1).
        torch.cuda.set_device(device)
    dtype = getattr(torch, args.dtype)
    shapes = read_shapes(args.template)
    m = Model(cfg, dtype, device, args.seed)
    out, skipped = [], 0
    for shape in shapes:
        p, n, d, c = shape
        if args.max_context and (d if n else c + p) > args.max_context:
            skipped += 1
            continue
        try:
            ms = measure(m, shape, dtype, device, args)
        except torch.cuda.OutOfMemoryError:
            ms = None
            torch.cuda.empty_cache()
        if ms is None:
            skipped += 1
            continue
        out.append((p, n, d, c, ms))
        sys.stderr.write("  %6d prompt tokens after %8d, %5d decodes at %8d context tokens: "
                         "%.4f ms\n" % (p, c, n, d, ms))
    if not out:
        die("no shape could be measured (%d left out)" % skipped)
    with open(args.out, "w", newline="") as f:
        f.write("# Measured by bench/profile_steps.py: a plain PyTorch forward pass of a\n")
        f.write("# %s-shaped decoder (random weights; %s), %s.\n" % (
            args.model, ", ".join("%s %d" % (k, v) for k, v in cfg.items()), args.dtype))
        how = ("Every step eager" if args.eager or device.type != "cuda" else
               "Steps of up to %d tokens as CUDA graphs, longer ones eager" % GRAPH_MAX_TOKENS)
        f.write("# %s. %s; median of %d after %d warm-up runs.\n"
                % (conditions(device, args, cfg), how, args.repeat, args.warmup))
        f.write("# No engine: no scheduler or sampler host time. %d template shapes left out "
                "(KV beyond the GPU or --max-context).\n" % skipped)
        f.write("prefill_tokens,decode_seqs,decode_context_tokens,prefill_context_tokens,"
                "step_ms\n")
        for p, n, d, c, ms in out:
            f.write("%d,%d,%d,%d,%.4f\n" % (p, n, d, c, ms))
    sys.stderr.write("profile_steps: wrote %s (%d shapes, %d left out)\n"
                     % (args.out, len(out), skipped))


if __name__ == "__main__":
    main()

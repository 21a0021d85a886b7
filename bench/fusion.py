"""Cost of each embedding fusion against the unconditioned backbone, and of SDPA against textbook attention.

For every fusion of `multideg.fusion` on one backbone preset: forward time, forward+backward time and memory, each as a
ratio against fusion `none` on the same backbone. Memory is the peak allocated memory on CUDA; on CPU, where PyTorch
keeps no allocator statistics, it is the size of the activations autograd saves for backward (unique storages), which
is what grows with the image. Then the spatial-transformer layer of the middle of the U-Net (and the whole network)
with `attn_impl='sdpa'` against `attn_impl='math'` (softmax(QKᵀ)V written out), measured in the same run.

    python bench/fusion.py [--backbone unet|nafnet] [--preset small|daclip|...] [--size 128 256] [--batch 1]
                           [--repeats 5] [--device cpu|cuda] [--dtype fp32|bf16|fp16] [--fusions none film ...]

Rounds alternate between the fusions, in an order shuffled every round, so that drift in the machine's speed hits all
of them alike; figures are medians over the rounds. On CPU the default clock is this process's CPU time (with
`--threads 1` that is the work done, whatever else runs on the machine); on CUDA it is wall time after synchronising.
"""
import argparse, random, statistics, time

import torch

from multideg.core import default_device
from multideg.fusion import FUSIONS, set_attention_impl
from multideg.unet import (ConditionalNAFNet, ConditionalUNet, NAFNET_PRESETS, SpatialTransformer, UNET_PRESETS,
                           nafnet_config, unet_config)

DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def build(backbone, preset, fusion, impl='sdpa'):
    if backbone == 'unet': return ConditionalUNet(unet_config(preset, fusion=fusion, attn_impl=impl))
    return ConditionalNAFNet(nafnet_config(preset, fusion=fusion, attn_impl=impl))


def make_inputs(net, batch, size, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = net.fusion.cfg.embed_dim
    emb = dict(content=torch.randn(batch, d, generator=g), degradation=torch.randn(batch, d, generator=g),
               tokens=torch.randn(batch, 2, d, generator=g), scene=torch.randn(batch, 3, d, generator=g))
    x = torch.rand(batch, 3, size, size, generator=g)
    return {k: v.to(device) for k, v in emb.items()}, x.to(device)


def call(net, x, emb):
    if isinstance(net, ConditionalUNet):
        return net(x + 0.1 * torch.randn_like(x), x, torch.full((x.shape[0],), 50, device=x.device), **emb)
    return net(x, **emb)


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


CLOCK = {'wall': time.perf_counter, 'cpu': time.process_time}
_clock = time.perf_counter


def timed(fn, device):
    "Seconds `fn` takes on the chosen clock (wall time, or this process's CPU time: robust on a shared machine)."
    sync(device); t = _clock(); fn(); sync(device)
    return _clock() - t


class SavedBytes:
    "Bytes of the distinct storages autograd saves for backward while active."
    def __init__(self): self.seen, self.bytes = set(), 0
    def pack(self, t):
        try: key = (t.untyped_storage().data_ptr(), t.device)
        except Exception: key = id(t)
        if key not in self.seen:
            self.seen.add(key); self.bytes += t.untyped_storage().nbytes()
        return t
    def __enter__(self):
        self.ctx = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t); self.ctx.__enter__(); return self
    def __exit__(self, *a): self.ctx.__exit__(*a)


def memory(net, x, emb, device, amp):
    "Peak CUDA memory of forward+backward (MB), or on CPU the activations saved for backward (MB)."
    net.zero_grad(set_to_none=True)
    if device.type == 'cuda':
        torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with amp(): y = call(net, x, emb)
        y.float().square().mean().backward(); sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    with SavedBytes() as s, amp():
        y = call(net, x, emb)
    y.float().square().mean().backward()
    return s.bytes / 2**20


def _order(d, r):
    "The keys of `d` in an order that changes from round to round (seeded), so no net always runs first."
    keys = list(d); random.Random(r).shuffle(keys)
    return keys


def bench_nets(nets, x, emb, device, repeats, warmup, amp):
    "Median forward and forward+backward seconds of each net, rounds alternating between nets."
    fwd = {k: [] for k in nets}; both = {k: [] for k in nets}

    def forward(net):
        with torch.no_grad(), amp(): call(net, x, emb)

    def train_step(net):
        net.zero_grad(set_to_none=True)
        with amp(): y = call(net, x, emb)
        y.float().square().mean().backward()

    for r in range(warmup + repeats):
        for k in _order(nets, r):
            net = nets[k]
            a, b = timed(lambda: forward(net), device), timed(lambda: train_step(net), device)
            if r >= warmup: fwd[k].append(a); both[k].append(b)
    return {k: statistics.median(v) for k, v in fwd.items()}, {k: statistics.median(v) for k, v in both.items()}


def attention_layer(preset, size, batch, device, repeats, warmup, amp):
    "The U-Net's middle spatial transformer (with a 4-token context) under SDPA and under textbook attention."
    cfg = unet_config(preset, fusion='cross_attention')
    c = cfg.nf * cfg.ch_mult[-1]
    s = size // 2 ** (len(cfg.ch_mult) - 1)
    layers = {}
    for impl in ('sdpa', 'math'):
        torch.manual_seed(0)
        layers[impl] = set_attention_impl(SpatialTransformer(c, c // cfg.head_channels, cfg.head_channels, 1, 512), impl).to(device)
    layers['math'].load_state_dict(layers['sdpa'].state_dict())
    x = torch.randn(batch, c, s, s, device=device); ctx = torch.randn(batch, 4, 512, device=device)
    fwd = {k: [] for k in layers}; both = {k: [] for k in layers}
    for r in range(warmup + repeats):
        for k in _order(layers, r):
            layer = layers[k]
            def f():
                with torch.no_grad(), amp(): layer(x, ctx)
            def fb():
                layer.zero_grad(set_to_none=True)
                with amp(): y = layer(x, ctx)
                y.float().square().mean().backward()
            a, b = timed(f, device), timed(fb, device)
            if r >= warmup: fwd[k].append(a); both[k].append(b)
    return c, s * s, {k: statistics.median(v) for k, v in fwd.items()}, {k: statistics.median(v) for k, v in both.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--backbone', default='unet', choices=('unet', 'nafnet'))
    ap.add_argument('--preset', default='small')
    ap.add_argument('--size', type=int, nargs='+', default=[128])
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=5); ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--device', default=None, help='default: multideg.core.default_device()')
    ap.add_argument('--dtype', default='fp32', choices=tuple(DTYPES))
    ap.add_argument('--fusions', nargs='+', default=list(FUSIONS))
    ap.add_argument('--no-attention', action='store_true', help='skip the SDPA-vs-math comparison')
    ap.add_argument('--clock', default=None, choices=tuple(CLOCK),
                    help="'wall' (default on CUDA) or 'cpu': process CPU time (default on CPU, where other jobs share the cores)")
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: unchanged)')
    a = ap.parse_args()
    global _clock
    presets = UNET_PRESETS if a.backbone == 'unet' else NAFNET_PRESETS
    if a.preset not in presets: ap.error(f"--preset must be one of {sorted(presets)} for {a.backbone}")
    unknown = set(a.fusions) - set(FUSIONS)
    if unknown: ap.error(f"unknown fusions {sorted(unknown)}; known: {sorted(FUSIONS)}")
    fusions = ['none'] + [f for f in a.fusions if f != 'none']
    device = torch.device(a.device) if a.device else default_device()
    dt = DTYPES[a.dtype]
    if a.threads: torch.set_num_threads(a.threads)
    clock = a.clock or ('wall' if device.type == 'cuda' else 'cpu')
    if clock == 'cpu' and device.type == 'cuda': ap.error("--clock cpu does not measure GPU work; use --clock wall")
    _clock = CLOCK[clock]
    amp = (lambda: torch.autocast(device.type, dtype=dt)) if dt else (lambda: torch.autocast(device.type, enabled=False))

    print(f"# {a.backbone} preset {a.preset}, batch {a.batch}, {a.dtype}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == 'cuda' else f", {torch.get_num_threads()} threads")
          + f", torch {torch.__version__}, {clock} clock, median of {a.repeats}")
    mem_name = 'peak MB' if device.type == 'cuda' else 'saved MB'
    for size in a.size:
        nets = {}
        for f in fusions:
            torch.manual_seed(0)
            nets[f] = build(a.backbone, a.preset, f).to(device).train()
        emb, x = make_inputs(nets['none'], a.batch, size, device)
        mem = {f: memory(net, x, emb, device, amp) for f, net in nets.items()}
        fwd, both = bench_nets(nets, x, emb, device, a.repeats, a.warmup, amp)
        print(f"\n## {size}×{size}")
        print(f"| fusion | params | forward ms | ×none | fwd+bwd ms | ×none | {mem_name} | ×none |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for f, net in nets.items():
            n = sum(p.numel() for p in net.parameters())
            print(f"| {f} | {n:,} | {1e3 * fwd[f]:.1f} | {fwd[f] / fwd['none']:.3f} | {1e3 * both[f]:.1f} | "
                  f"{both[f] / both['none']:.3f} | {mem[f]:.1f} | {mem[f] / mem['none']:.3f} |")
        worst = max((both[f] / both['none'], f) for f in nets if f != 'none')
        print(f"worst fwd+bwd ratio: {worst[1]} {worst[0]:.3f} (target <= 1.15)")
        del nets
        if a.backbone == 'unet' and not a.no_attention:
            c, n, lf, lb = attention_layer(a.preset, size, a.batch, device, a.repeats, a.warmup, amp)
            print(f"\nmiddle spatial transformer ({c} channels, {n} tokens, 4 context tokens): "
                  f"forward sdpa {1e3 * lf['sdpa']:.2f} ms vs math {1e3 * lf['math']:.2f} ms (×{lf['sdpa'] / lf['math']:.3f}); "
                  f"fwd+bwd sdpa {1e3 * lb['sdpa']:.2f} ms vs math {1e3 * lb['math']:.2f} ms (×{lb['sdpa'] / lb['math']:.3f})")
            pair = {}
            for impl in ('sdpa', 'math'):
                torch.manual_seed(0); pair[impl] = build('unet', a.preset, 'cross_attention', impl).to(device).train()
            emb, x = make_inputs(pair['sdpa'], a.batch, size, device)
            pf, pb = bench_nets(pair, x, emb, device, a.repeats, a.warmup, amp)
            print(f"whole U-Net with cross_attention: forward sdpa {1e3 * pf['sdpa']:.1f} ms vs math {1e3 * pf['math']:.1f} ms "
                  f"(×{pf['sdpa'] / pf['math']:.3f}); fwd+bwd sdpa {1e3 * pb['sdpa']:.1f} ms vs math {1e3 * pb['math']:.1f} ms "
                  f"(×{pb['sdpa'] / pb['math']:.3f})")
            del pair


if __name__ == '__main__':
    main()

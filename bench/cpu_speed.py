"""What made the default demo faster on a small CPU (issue 23's 15 minutes): each change against its baseline, timed
in the same process (subprocesses for the controller's steps), with results checked to be the same.

  layernorm     forward + backward of notebook 05's channel LayerNorm (F.layer_norm over the channel axis moved
                last) against the var_mean formula it replaced, on the demo restorer's widest activations
  visibilities  `visibilities` (each image kept before each of its steps: the steps before a left-out one are not
                replayed) against replaying every prefix, on the records the demo's sampler keeps for 256-px crops
  dilation      image_statistics' k×k maximum as doubling windows (3 maxima a side for k = 7) against k - 1 shifted
                maxima; and image_statistics per 256-px crop
  controller    the demo controller's training steps (64-px crops checked for what shows) with 1 thread and a loader
                worker (the demo's setting on a CPU since 2026-12-07) against 2 threads and no worker, in turn
  head          the data of the demo's statistics head (its last controller stage, 2 threads): its dead-leaves pictures
                of 384 px drawn by 2 worker processes against this process; its 256-px crops measured
                (image_statistics) in the 2 loader workers that draw them against in this process beside them

    python bench/cpu_speed.py --out bench/results/cpu_speed_cpu.json
"""
import argparse, io, json, math, platform, re, subprocess, sys, time, contextlib
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument('--threads', type=int, default=1, help='torch threads of the in-process timings')
p.add_argument('--repeats', type=int, default=5)
p.add_argument('--steps', type=int, default=110, help="controller steps per run, >= 10 (0: skip that part)")
p.add_argument('--rounds', type=int, default=2, help='controller runs of each setting, alternated')
p.add_argument('--head', type=int, default=1000, help="crops of the statistics head's part (0: skip it)")
p.add_argument('--out', default=None, help='JSON file for the figures')
p.add_argument('--controller_run', nargs=2, type=int, default=None, help=argparse.SUPPRESS)   # threads workers
a = p.parse_args()
if a.head < 0: p.error(f"--head must be 0 (skip) or a number of crops, got {a.head}")
if 0 < a.steps < 10: p.error(f"--steps must be 0 or >= 10 (the log's first rate is at step 10), got {a.steps}")

def controller_run(threads: int, workers: int, steps: int) -> float:
    "Steps per second of the demo controller's training from step 30 on (subprocess: its own threads and workers)."
    import tempfile
    from dataclasses import replace
    from pathlib import Path
    from multideg.controller_training import train_controller
    from multideg.demo import DEMO_COUNTS, DemoConfig, _stage_configs
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        ccfg, _ = _stage_configs(DemoConfig(out=tmp, profile='cpu', device='cpu').resolved(), Path(tmp), DEMO_COUNTS)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            train_controller(replace(ccfg, steps=steps, val_every=0, save_every=0, log_every=10, statistics=0,
                                     num_workers=workers, threads=threads))
    rates = [float(r) for r in re.findall(r'([\d.]+) steps/s', out.getvalue())]
    rates = rates[2:] or rates                     # after the first 20 steps when there are more
    return sum(rates) / len(rates)

if a.controller_run:
    print(json.dumps({'steps_per_s': controller_run(*a.controller_run, a.steps)})); sys.exit()

torch.set_num_threads(a.threads)
from multideg.controller import _dilate, image_statistics
from multideg.data import SampleImages
from multideg.degradations import DegradationSampler, _as_steps, _view, apply_records, visibilities
from multideg.demo import DEMO_COUNTS
from multideg.unet import LayerNorm

def best(fn, repeats=a.repeats) -> float:
    "The fastest of `repeats` calls (s), after one warm-up call."
    fn(); ts = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return min(ts)

res = {'machine': f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s) in process",
       'torch': torch.__version__}

# 1. LayerNorm
def var_mean_norm(x, g, b):
    var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
    return (x - mean) * (var + 1e-5).rsqrt() * g + b
rows = []
for shape in [(16, 32, 64, 64), (16, 64, 32, 32), (16, 128, 16, 16)]:
    ln = LayerNorm(shape[1], bias=True)
    with torch.no_grad(): ln.g.uniform_(0.5, 2); ln.b.normal_()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    def run(f):
        def go():
            y = f(x); (y * y).sum().backward()
        return go
    base = best(run(lambda v: var_mean_norm(v, ln.g, ln.b)))
    new = best(run(ln))
    err = (ln(x) - var_mean_norm(x, ln.g, ln.b)).abs().max().item()
    rows.append({'shape': list(shape), 'var_mean_ms': base * 1e3, 'layer_norm_ms': new * 1e3, 'speedup': base / new,
                 'max_abs_difference': err})
    print(f"layernorm {shape}: {base * 1e3:.1f} -> {new * 1e3:.1f} ms forward+backward ({base / new:.2f}x), "
          f"max |difference| {err:.1e}", flush=True)
res['layernorm'] = rows

# 2. visibilities: the same records, both ways
def replayed_visibilities(clean, records, size=None):
    "The baseline: the batch degraded once, then once per position with that step left out, from the clean image."
    x, steps = clean, [_as_steps(r) for r in records]
    y = apply_records(x, steps, check=False)
    seen, out = _view(y, size).double(), [{} for _ in steps]
    for k in range(max(map(len, steps), default=0)):
        idx = [i for i, s in enumerate(steps) if len(s) > k]
        without = apply_records(x[idx], [steps[i][:k] + steps[i][k + 1:] for i in idx], check=False)
        mse = (seen[idx] - _view(without, size).double()).pow(2).mean((1, 2, 3))
        for i, m in zip(idx, mse.tolist()): out[i][steps[i][k]['name']] = 10 * math.log10(1 / m) if m > 0 else math.inf
    return y, out
photos = SampleImages('train')
crops = [photos.load(i % len(photos))[:, 32:288, 32:288].contiguous() for i in range(32)]
sampler = DegradationSampler(counts=DEMO_COUNTS, visible_db=30.0)
items = [(c[None], sampler(c, torch.Generator().manual_seed(i))[1]) for i, c in enumerate(crops)]
two = sum(len(r[0]) == 2 for _, r in items)
base = best(lambda: [replayed_visibilities(x, r) for x, r in items], 3)
new = best(lambda: [visibilities(x, r) for x, r in items], 3)
pairs = [(replayed_visibilities(x, r), visibilities(x, r)) for x, r in items]      # once each, for the checks
same = all(torch.equal(old[0], now[0]) for old, now in pairs)
gap = max(abs(old[1][0][n] - v) for old, now in pairs for n, v in now[1][0].items() if math.isfinite(v))
res['visibilities'] = {'images': len(items), 'with_two': two, 'replayed_ms': base / len(items) * 1e3,
                       'kept_ms': new / len(items) * 1e3, 'speedup': base / new, 'same_images': same,
                       'max_db_difference': gap}
print(f"visibilities, 256-px crops ({two} of {len(items)} with two degradations): {base / len(items) * 1e3:.1f} -> "
      f"{new / len(items) * 1e3:.1f} ms per image ({base / new:.2f}x); same degraded images: {same}, "
      f"dB within {gap:.1e}", flush=True)

# 3. dilation and image_statistics
def shifted_dilate(y, k):
    r = k // 2
    for dim in (-1, -2):
        n = y.shape[dim]
        q = F.pad(y, (r, r, 0, 0) if dim == -1 else (0, 0, r, r), value=-math.inf)
        out = q.narrow(dim, 0, n)
        for i in range(1, k): out = torch.maximum(out, q.narrow(dim, i, n))
        y = out
    return y
lum = torch.rand(64, 1, 256, 256, generator=torch.Generator().manual_seed(1))
rows = []
for k in (3, 7):
    base, new = best(lambda: shifted_dilate(lum, k)), best(lambda: _dilate(lum, k))
    same = torch.equal(shifted_dilate(lum, k), _dilate(lum, k))
    rows.append({'k': k, 'shifted_ms': base * 1e3, 'doubling_ms': new * 1e3, 'speedup': base / new, 'same': same})
    print(f"dilation k={k}, 64 x 256 x 256: {base * 1e3:.1f} -> {new * 1e3:.1f} ms ({base / new:.2f}x), same: {same}",
          flush=True)
batch = torch.stack(crops[:32])
per = best(lambda: image_statistics(batch), 3) / len(batch)
res['dilation'] = rows
res['image_statistics_ms_per_256px_crop'] = per * 1e3
print(f"image_statistics: {per * 1e3:.1f} ms per 256-px crop", flush=True)

# 4. the controller's steps
if a.steps:
    runs = {'2 threads, no worker': (2, 0), '1 thread, 1 worker': (1, 1)}
    rates = {k: [] for k in runs}
    for _ in range(a.rounds):
        for k, (t, w) in runs.items():
            cmd = [sys.executable, __file__, '--controller_run', str(t), str(w), '--steps', str(a.steps)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rates[k].append(json.loads(out.strip().splitlines()[-1])['steps_per_s'])
            print(f"controller, {k}: {rates[k][-1]:.2f} steps/s", flush=True)
    res['controller_steps_per_s'] = rates
    b, n = (sum(v) / len(v) for v in rates.values())
    res['controller_speedup'] = n / b
    print(f"controller: {b:.2f} -> {n:.2f} steps/s ({n / b:.2f}x)")

# 5. the statistics head's data, both ways (2 threads here, as the demo's process has)
if a.head:
    from dataclasses import replace
    from pathlib import Path
    from multideg.controller_training import _lq_names, _statistics_names, controller_data
    from multideg.demo import DemoConfig, _stage_configs
    torch.set_num_threads(2)
    ccfg, _ = _stage_configs(DemoConfig(out='unused', profile='cpu', device='cpu').resolved(), Path('unused'),
                             DEMO_COUNTS)
    head_cfg = replace(ccfg, seed=ccfg.seed + 1, epoch_length=a.head)     # the head's dead-leaves crops

    def draw(workers):
        t = time.perf_counter()
        ds = controller_data(head_cfg, 'train', ccfg.statistics_size, degrade='loader', workers=workers)
        return ds, time.perf_counter() - t

    def measure(ds, in_workers: bool):
        t, stats = time.perf_counter(), []
        loader = torch.utils.data.DataLoader(ds, 64, num_workers=2,
                                             collate_fn=_statistics_names if in_workers else _lq_names)
        for x, _ in loader: stats.append(x if in_workers else image_statistics(x))
        return torch.cat(stats), time.perf_counter() - t
    here, t_here = draw(0)
    two, t_two = draw(2)
    gap = max((here.source.get_pixels(i).float() - two.source.get_pixels(i).float()).abs().max().item()
              for i in range(len(here.source)))
    s_here, m_here = measure(here, False)
    s_two, m_two = measure(here, True)
    res['head'] = {'pictures': len(here.source), 'picture_px': ccfg.statistics_size * 3 // 2,
                   'draw_here_s': t_here, 'draw_2_workers_s': t_two, 'draw_speedup': t_here / t_two,
                   'pictures_max_difference': gap, 'crops': a.head, 'measure_here_s': m_here,
                   'measure_in_workers_s': m_two, 'measure_speedup': m_here / m_two,
                   'same_statistics': torch.equal(s_here, s_two)}
    print(f"head: {len(here.source)} pictures (photos and dead leaves of {ccfg.statistics_size * 3 // 2} px) drawn in "
          f"{t_here:.1f} s here -> {t_two:.1f} s by 2 workers ({t_here / t_two:.2f}x; pixels within {gap:.1e}); "
          f"{a.head} crops measured in {m_here:.1f} s here -> {m_two:.1f} s in the workers ({m_here / m_two:.2f}x), "
          f"same statistics: {torch.equal(s_here, s_two)}", flush=True)

if a.out:
    with open(a.out, 'w') as f: json.dump(res, f, indent=1)

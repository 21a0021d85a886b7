"""Data rate of on-the-fly training pairs: host memory on photo folders of any size, synthesis speed per CPU core
(per image in the loader vs batched 'on the device', here the CPU), and how close torchvision's JPEG is to Pillow's.

Run: OMP_NUM_THREADS=1 python bench/data_rate.py [--photos 50 500] [--batches 200] [--out bench/results/data_rate_cpu.md]
Each memory run is a fresh process (peak RSS = its ru_maxrss; num_workers=0, so all decoding happens in it).
"""
import argparse, json, os, resource, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np
import torch

def load_avg() -> str:
    return ', '.join(f'{v:.2f}' for v in os.getloadavg()) + f' (1/5/15 min, {os.cpu_count()} cores)'

def write_photos(folder: Path, n: int, w: int = 2040, h: int = 1356) -> None:
    "n JPEG photos of w×h: the sample photos upscaled, each with its own crop, flip and tint (so no two are alike)."
    from PIL import Image
    from multideg.data import sample_images
    folder.mkdir(parents=True, exist_ok=True)
    base = [Image.open(s.path).convert('RGB') for s in sample_images()]
    rng = np.random.default_rng(0)
    for i in range(n):
        f = folder / f'photo_{i:04d}.jpg'
        if f.exists(): continue
        im = base[i % len(base)]
        cw, ch = im.width * (0.7 + 0.3 * rng.random()), im.height * (0.7 + 0.3 * rng.random())
        x0, y0 = rng.random() * (im.width - cw), rng.random() * (im.height - ch)
        im = im.resize((w, h), Image.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))
        if i % 2: im = im.transpose(Image.FLIP_LEFT_RIGHT)
        a = np.asarray(im).astype(np.float32) * (0.85 + 0.3 * rng.random(3))
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(f, quality=92)

def recipe_sampler():
    "The recipes' default mix (controller and restorer: one or two degradations, all types alike)."
    from multideg.degradations import NAMES, DegradationSampler
    return DegradationSampler(counts={1: 0.5, 2: 0.5}, weights={k: 1.0 for k in NAMES})

def stream(folder: str, batches: int, batch_size: int, patch: int) -> dict:
    "Child process: stream `batches` batches from a lazily read folder, degraded batch by batch (on the CPU)."
    from multideg.data import SyntheticPairs, make_loader, recipe_source
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # after the imports
    t0 = time.perf_counter()
    src = recipe_source(folder, 'train')
    ds = SyntheticPairs(src, recipe_sampler(), patch, length=batches * batch_size, seed=0, degrade='device')
    first = None
    for k, b in enumerate(make_loader(ds, batch_size, shuffle=True, pin_memory=False)):
        b = ds.degrade_batch(b)
        if first is None: first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    return {'photos': len(src), 'items': batches * batch_size, 'first_batch_s': first, 'total_s': total,
            'rss_after_imports_mib': rss0, 'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

def rate(patch: int, n: int, batch: int, repeat: int) -> dict:
    "Samples/s at patch² from in-memory photos: per image in the loader vs clean crops + batched degradation."
    from multideg.data import SampleImages, Preloaded, SyntheticPairs, collate
    src = Preloaded(SampleImages('train'))
    cpu = SyntheticPairs(src, recipe_sampler(), patch, length=n, seed=1)
    dev = SyntheticPairs(src, recipe_sampler(), patch, length=n, seed=1, degrade='device')
    cpu[0]; dev.degrade_batch(collate([dev[0]]))  # warm-up
    runs = {'per_image': [], 'loader_crops_plans': [], 'batched_degrade': [], 'batched_total': []}
    for _ in range(repeat):  # interleaved, so that both paths see the same machine load
        t = time.perf_counter()
        for i in range(n): cpu[i]
        runs['per_image'].append(n / (time.perf_counter() - t))
        t = time.perf_counter(); items = [dev[i] for i in range(n)]; t_items = time.perf_counter() - t
        t = time.perf_counter()
        for k in range(0, n, batch): dev.degrade_batch(collate(items[k:k + batch]))
        t_deg = time.perf_counter() - t
        runs['loader_crops_plans'].append(n / t_items); runs['batched_degrade'].append(n / t_deg)
        runs['batched_total'].append(n / (t_items + t_deg))
    return {k: (float(np.median(v)), max(v)) for k, v in runs.items()}

def jpeg_table(qualities, n: int, patch: int) -> list[dict]:
    "PSNR between torchvision's (libjpeg, CPU) and Pillow's JPEG round trips of the same 8-bit crops, per quality."
    from multideg.data import SampleImages, SyntheticPairs
    from multideg.degradations import jpeg_roundtrip
    ds = SyntheticPairs(SampleImages(None), 'mixed', patch, length=n, seed=2, degrade='device')
    x = torch.stack([ds[i]['gt'] for i in range(n)])
    x = x.mul(255).round().div(255)
    for codec in ('torchvision', 'pillow'): jpeg_roundtrip(x[:1], torch.tensor([50]), codec)  # warm-up
    psnr = lambda a, b: 10 * torch.log10(1 / (a.double() - b.double()).pow(2).mean((1, 2, 3)).clamp_min(1e-12))
    rows = []
    for q in qualities:
        qs = torch.full((n,), q)
        t = time.perf_counter(); pil = jpeg_roundtrip(x, qs, 'pillow'); tp = time.perf_counter() - t
        t = time.perf_counter(); tv = jpeg_roundtrip(x, qs, 'torchvision'); tt = time.perf_counter() - t
        d = psnr(tv, pil)
        rows.append({'quality': q, 'psnr_tv_pillow': float(d.mean()), 'psnr_tv_pillow_min': float(d.min()),
                     'identical': float((tv == pil).all(1).float().mean()),
                     'psnr_pillow_clean': float(psnr(pil, x).mean()), 'psnr_tv_clean': float(psnr(tv, x).mean()),
                     'ms_pillow': 1000 * tp / n, 'ms_tv': 1000 * tt / n})
    return rows

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--photos', type=int, nargs='+', default=[50, 500])
    p.add_argument('--batches', type=int, default=200)
    p.add_argument('--batch_size', type=int, default=4)
    p.add_argument('--patch', type=int, default=256)
    p.add_argument('--folder', default='/tmp/multideg_bench_photos')
    p.add_argument('--rate_n', type=int, default=96, help='items timed for the synthesis rates')
    p.add_argument('--rate_batch', type=int, default=16)
    p.add_argument('--repeat', type=int, default=3, help='interleaved repeats of the synthesis rates')
    p.add_argument('--jpeg_n', type=int, default=24)
    p.add_argument('--qualities', type=int, nargs='+', default=[10, 20, 30, 50, 70, 90, 95])
    p.add_argument('--out', default='bench/results/data_rate_cpu.md')
    p.add_argument('--_child', nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    warnings.simplefilter('ignore')
    if a._child:
        print(json.dumps(stream(a._child[0], *map(int, a._child[1:])))); return
    lines = ["# Data rate on the CPU (`bench/data_rate.py`)", '',
             f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
             f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; load average at start: {load_avg()}", '']
    print(lines[2])
    # (a) memory and first batch
    root = Path(a.folder)
    t = time.perf_counter(); write_photos(root / 'all', max(a.photos))
    print(f"photos written/checked in {time.perf_counter() - t:.0f} s")
    mem = []
    for n in a.photos:
        d = root / f'n{n}'
        d.mkdir(exist_ok=True)
        for i in range(n):
            f = d / f'photo_{i:04d}.jpg'
            if not f.exists(): os.link(root / 'all' / f.name, f)
        cmd = [sys.executable, __file__, '--_child', str(d), str(a.batches), str(a.batch_size), str(a.patch)]
        out = subprocess.run(cmd,
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1]); r['load'] = load_avg(); mem.append(r)
        print(r)
    lines += [f"## (a) Host memory: {a.batches} batches of {a.batch_size} crops {a.patch}² from a folder of "
              "2040×1356 JPEGs",
              '', "Lazy folder source (`recipe_source(folder)`: listed, decoded per item as uint8, LRU cache 256 MiB), "
              "`SyntheticPairs(degrade='device')`, batches degraded with `degrade_batch` on the CPU; one fresh process "
              "per row, `num_workers=0` (all decoding in that process).", '',
              '| photos | RSS after imports (MiB) | peak RSS (MiB) | first batch (s) | total (s) | items/s '
              '| what the old InMemory would hold (GiB, float32) | load average |',
              '|---|---|---|---|---|---|---|---|']
    for r in mem:
        held = r['photos'] * 2040 * 1356 * 3 * 4 / 2**30
        lines.append(f"| {r['photos']} | {r['rss_after_imports_mib']:.0f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['first_batch_s']:.2f} | {r['total_s']:.0f} | {r['items'] / r['total_s']:.1f} | {held:.1f} | "
                     f"{r['load']} |")
    if len(mem) >= 2:
        g = mem[-1]['peak_rss_mib'] / mem[0]['peak_rss_mib'] - 1
        lines += ['', f"Peak RSS growth from {mem[0]['photos']} to {mem[-1]['photos']} photos: {100 * g:+.1f}%."]
        print(lines[-1])
    # (b) synthesis rates
    r = rate(a.patch, a.rate_n, a.rate_batch, a.repeat); load = load_avg(); print(r)
    lines += ['', f"## (b) Samples per second at {a.patch}², one CPU core, `num_workers=0`, the recipes' mix "
              "(one or two degradations of all 12 types)", '',
              f"From the sample photos in memory (`Preloaded`), {a.rate_n} items (the same items on both paths), "
              f"batches of {a.rate_batch} for the batched path, {a.repeat} interleaved repeats: median (best); "
              f"load average {load}.", '',
              '| path | samples/s |', '|---|---|']
    names = {'per_image': "per image in the loader (`SyntheticPairs`, degrade='loader')",
             'loader_crops_plans': "clean crop + plan only (what a loader worker does with degrade='device')",
             'batched_degrade': "batched degradation on the device (here the CPU), `degrade_batch`",
             'batched_total': "device mode, both together on one core"}
    lines += [f"| {names[k]} | {med:.1f} ({best:.1f}) |" for k, (med, best) in r.items()]
    lines += ['', "Ratio batched / per-image on the same core (medians): "
              f"{r['batched_total'][0] / r['per_image'][0]:.2f} "
              f"(degradation alone: {r['batched_degrade'][0] / r['per_image'][0]:.2f})."]
    # (c) JPEG
    rows = jpeg_table(a.qualities, a.jpeg_n, a.patch); load = load_avg()
    lines += ['', f"## (c) torchvision JPEG (libjpeg on the CPU) vs Pillow, {a.jpeg_n} crops {a.patch}² of the "
              "sample photos",
              '', f"Same 8-bit input, same quality; PSNR (dB) between the two decoded outputs, and of each against the "
              f"input (PSNR is capped at 120 dB: 120 means bit-identical); load average {load}.", '',
              '| quality | PSNR tv vs Pillow (mean) | (min) | identical images | PSNR Pillow vs clean | PSNR tv vs clean '
              '| ms/img Pillow | ms/img tv |',
              '|---|---|---|---|---|---|---|---|']
    for q in rows:
        lines.append(f"| {q['quality']} | {q['psnr_tv_pillow']:.2f} | {q['psnr_tv_pillow_min']:.2f} | "
                     f"{100 * q['identical']:.0f}% | "
                     f"{q['psnr_pillow_clean']:.2f} | {q['psnr_tv_clean']:.2f} | {q['ms_pillow']:.2f} | {q['ms_tv']:.2f} |")
        print(lines[-1])
    lines += ['', f"Load average at the end: {load_avg()}.", '']
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines))
    print(f"written {a.out}")

if __name__ == '__main__': main()

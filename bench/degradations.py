"""Throughput of the batched degradation pipeline against a per-image PIL/NumPy loop doing the same degradations.

The loop is how the published code synthesises data: one image at a time, through uint8 PIL/NumPy/SciPy calls
(noise with NumPy, Gaussian and motion blur with SciPy, JPEG and bicubic resizing with Pillow); degradations that have
no classic PIL/NumPy counterpart (the scene ones) run through multideg one image at a time. Both sides apply the same
degradation sets with the same parameters, so only the execution differs.

    python bench/degradations.py [--size 256] [--batch 16] [--batches 8] [--repeats 3] [--preset mixed|single|seed24] [--device cpu]

Prints images/second for both and their ratio (figures are measured in this process, never asserted).
"""
import argparse, io, time

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from multideg.core import default_device
from multideg.degradations import (DEGRADATIONS, ORDER, compose, gaussian_kernel, motion_kernel, preset,
                                   records_from, stroke_mask)


def per_image(img: np.ndarray, steps: list[dict]) -> np.ndarray:
    "The reference way: one H×W×3 float image, one degradation after another, PIL/NumPy/SciPy where they exist."
    x = img
    for s in sorted(steps, key=lambda s: ORDER.index(s['name'])):
        n = s['name']
        if n == 'noisy':
            x = np.clip(x + np.random.default_rng(s['seed']).normal(0, s['sigma'], x.shape), 0, 1)
        elif n == 'gaussian-blurry':
            k = gaussian_kernel(torch.tensor([s['sigma']]), 25)[0].numpy()
            x = np.stack([ndimage.convolve(x[..., c], k, mode='mirror') for c in range(3)], -1)
        elif n == 'motion-blurry':
            size = min(int(s['size']), min(x.shape[:2]) // 4) // 2 * 2 + 1
            k = motion_kernel(size, s['intensity'], np.random.default_rng(s['seed']))
            x = np.stack([ndimage.convolve(x[..., c], k, mode='mirror') for c in range(3)], -1)
        elif n == 'jpeg-compressed':
            buf = io.BytesIO(); Image.fromarray((x * 255).round().astype(np.uint8)).save(buf, 'JPEG', quality=int(s['quality']))
            x = np.asarray(Image.open(buf)).astype(np.float64) / 255
        elif n == 'low-resolution':
            h, w = x.shape[:2]; im = Image.fromarray((x * 255).round().astype(np.uint8))
            small = im.resize((round(w / s['scale']), round(h / s['scale'])), Image.Resampling.BICUBIC)
            x = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC)).astype(np.float64) / 255
        elif n == 'uncompleted':
            m = stroke_mask(*x.shape[:2], s['coverage'], torch.Generator().manual_seed(s['seed'])).numpy()[..., None]
            x = x * (1 - m) + m
        else:  # scene degradations: no classic PIL/NumPy version; multideg on a batch of one
            t = torch.from_numpy(x).permute(2, 0, 1)[None].float()
            x = compose(t, [[s]])[0][0].permute(1, 2, 0).double().numpy()
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', type=int, default=256); ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--batches', type=int, default=8); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--preset', default='mixed', choices=('mixed', 'single', 'seed24'))
    ap.add_argument('--device', default=None, help='default: multideg.core.default_device()')
    a = ap.parse_args()
    device = torch.device(a.device) if a.device else default_device()
    from skimage import data
    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float()[None] / 255
    x = torch.nn.functional.interpolate(photo, size=(a.size, a.size), mode='bilinear', antialias=True).clamp(0, 1)
    x = x.repeat(a.batch, 1, 1, 1).to(device)
    sampler, g = preset(a.preset), torch.Generator().manual_seed(0)
    plans = [[{'name': n} for n in names] for names in sampler.draw(a.batch * a.batches, g)]
    compose(x[:1].cpu(), [plans[0]], g)  # warm-up (and imports)
    # batched: draw parameters once (records), then time the replay on the device
    recs = [[records_from(s['name'], DEGRADATIONS[s['name']].resolve(1, g))[0] for s in p] for p in plans]
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    compose(x, recs[:a.batch]); sync()
    img = x[0].permute(1, 2, 0).double().cpu().numpy()
    batched, loop = [], []
    for _ in range(a.repeats):  # alternate the two, so that load on the machine hits both alike
        t0 = time.perf_counter()
        for b in range(a.batches): compose(x, recs[b * a.batch:(b + 1) * a.batch])
        sync(); batched.append(a.batch * a.batches / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for r in recs: per_image(img, r)
        loop.append(len(recs) / (time.perf_counter() - t0))
    ratios = sorted(b / l for b, l in zip(batched, loop))
    batched, loop = float(np.median(batched)), float(np.median(loop))
    counts = np.bincount([len(r) for r in recs])
    print(f"preset {a.preset}: {a.batches} batches of {a.batch} at {a.size}x{a.size} on {device}, "
          f"types per image {dict(enumerate(counts.tolist()))}, torch threads {torch.get_num_threads()}")
    print(f"batched pipeline : {batched:8.1f} images/s")
    print(f"per-image loop   : {loop:8.1f} images/s (PIL/NumPy/SciPy, on the CPU)")
    print(f"ratio            : {batched / loop:8.2f}x (median of {a.repeats} alternating runs; per run {ratios[0]:.2f}x to {ratios[-1]:.2f}x)")


if __name__ == '__main__':
    main()

"""SSIM's speed: multideg.metrics.ssim (separable Gaussian: an 11-tap column pass, then a row pass) against the same
SSIM computed with one 11×11 convolution (the window as a 2-D kernel), in the same process, and their difference.

    OMP_NUM_THREADS=1 python bench/ssim_speed.py
"""
import argparse, time

import torch
import torch.nn.functional as F

from multideg.metrics import _gaussian_taps, _prepare, ssim


def ssim_2d(x, y):
    "The baseline: the same MATLAB-style SSIM, filtering with the 11×11 window in one convolution."
    a, b = _prepare(x, y, 0, False, True, 'ssim')
    c = a.shape[1]
    g = _gaussian_taps()
    w = (g[:, None] * g[None, :])[None, None].expand(c, 1, 11, 11)
    filt = lambda t: F.conv2d(t, w, groups=c)
    mu_a, mu_b = filt(a), filt(b)
    var_a, var_b, cov = filt(a * a) - mu_a ** 2, filt(b * b) - mu_b ** 2, filt(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return m.mean((2, 3)).mean(1)


def seconds(fn, *args, repeats: int) -> float:
    fn(*args)
    t0 = time.perf_counter()
    for _ in range(repeats): fn(*args)
    return (time.perf_counter() - t0) / repeats


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[256, 512, 1024])
    ap.add_argument('--repeats', type=int, default=5)
    a = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    print(f"threads {torch.get_num_threads()}; torch {torch.__version__}")
    print("| image | 11×11 convolution (s) | separable (s) | speed-up | largest difference |")
    print("|---|---:|---:|---:|---:|")
    for s in a.sizes:
        x = torch.rand(1, 3, s, s, generator=g)
        y = (x + 0.1 * torch.randn(1, 3, s, s, generator=g)).clamp(0, 1)
        t2, t1 = seconds(ssim_2d, x, y, repeats=a.repeats), seconds(ssim, x, y, repeats=a.repeats)
        diff = (ssim_2d(x, y) - ssim(x, y)).abs().max().item()
        print(f"| {s}² | {t2:.3f} | {t1:.4f} | {t2 / t1:.1f}× | {diff:.1e} |", flush=True)

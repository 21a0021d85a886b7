"""Speed and statistics of the clean-image sources: dead-leaves time per picture, spectrum slopes, SyntheticPairs items/s.

Run: OMP_NUM_THREADS=1 python bench/data.py [--sizes 128 256 512] [--n 5]
"""
import argparse, time
import torch
from multideg.data import dead_leaves, power_spectrum_slope, sample_images, SyntheticPairs, DeadLeaves, make_loader

p = argparse.ArgumentParser()
p.add_argument('--sizes', type=int, nargs='+', default=[128, 256, 512])
p.add_argument('--n', type=int, default=5)
p.add_argument('--workers', type=int, default=0)
a = p.parse_args()
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
for size in a.sizes:
    t = time.perf_counter(); xs = [dead_leaves(size, seed=i) for i in range(a.n)]; dt = (time.perf_counter() - t) / a.n
    sl = [power_spectrum_slope(x) for x in xs]
    print(f"dead_leaves {size}²: {dt * 1000:.0f} ms/picture; spectrum slope {sum(s for s, _ in sl) / len(sl):.2f} "
          f"(min {min(s for s, _ in sl):.2f}, max {max(s for s, _ in sl):.2f}), mean R² {sum(r for _, r in sl) / len(sl):.3f}")
for s in sample_images():
    print(f"photo {s.name:20s} slope {power_spectrum_slope(s.load())[0]:.2f}")
ds = SyntheticPairs(DeadLeaves(10_000, 256, seed=0), 'mixed', patch_size=256)
loader = make_loader(ds, batch_size=8, num_workers=a.workers)
t = time.perf_counter(); n = 0
for i, b in enumerate(loader):
    n += len(b['lq'])
    if i == 3: break
print(f"SyntheticPairs(dead leaves 256², mixed) with {a.workers} workers: {n / (time.perf_counter() - t):.1f} items/s")

"""Peak memory and time of restoring on the CPU: a large image in tiles against a small image whole.

The small U-Net preset (random weights: memory and time do not depend on them), the tiny controller, the `fast` sampler.
Each case runs in a fresh process, so its peak resident set size (ru_maxrss) is its own.
    OMP_NUM_THREADS=2 nice python bench/restore.py                      # 4096² in 512-pixel tiles vs 512² whole, 1 step
    python bench/restore.py --size 2048 --tile 256 --steps 2 --whole 256 512

Measured (2 shared CPU cores, load average about 5, torch threads 2, 1 `fast` step, November 2026):
    512×512 whole                    peak RSS 1840 MB   18 s
    1024×1024 whole                  peak RSS 4470 MB   38 s
    1024×1024, 9 tiles of 512        peak RSS 1828 MB   91 s
    4096×4096, 81 tiles of 512       peak RSS 2472 MB   1442 s   (model + image before restoring: 986 MB)
The network's memory follows the tile; what grows with the image is the full-size sampler state on the CPU (about
3.3 float32 copies of the image: +632 MB at 4096² over the 512² run).
"""
import argparse, json, resource, subprocess, sys, time

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--size', type=int, default=4096, help='side of the large (tiled) image')
p.add_argument('--tile', type=int, default=512)
p.add_argument('--overlap', type=int, default=32)
p.add_argument('--whole', type=int, nargs='*', default=[512], help='sides of the images restored whole, for comparison')
p.add_argument('--steps', type=int, default=1, help='sampling steps (network evaluations per tile)')
p.add_argument('--preset', default='small', help='U-Net preset')
p.add_argument('--threads', type=int, default=2)
p.add_argument('--case', nargs=2, type=int, default=None, metavar=('SIZE', 'TILE'), help=argparse.SUPPRESS)
a = p.parse_args()

def rss_mb() -> float:
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) / 1024

def case(size: int, tile: int) -> dict:
    import torch
    import torch.nn.functional as F
    from multideg.controller import ControllerConfig, controller_from_config
    from multideg.restore import Restorer, tile_starts
    from multideg.train import TINY_CLIP, RestorerConfig, RestorerParts, build_backbone, build_sde
    from multideg.unet import unet_config
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    cfg = RestorerConfig(backbone_config=unet_config(a.preset, fusion={'name': 'prompt', 'embed_dim': 64}).to_dict(), sampler='fast', steps=a.steps)
    parts = RestorerParts(cfg, build_backbone(cfg), build_sde(cfg), controller_from_config(ControllerConfig(model=TINY_CLIP)))
    r = Restorer(parts, device='cpu', tile=tile or None, overlap=a.overlap)
    img = F.interpolate(torch.rand(1, 3, max(2, size // 64), max(2, size // 64)), size=(size, size), mode='bilinear')[0]
    before = rss_mb()
    t0 = time.perf_counter()
    res = r.restore(img)
    secs = time.perf_counter() - t0
    assert res.image.shape == (3, size, size) and torch.isfinite(res.image).all()
    n = len(tile_starts(size, tile, a.overlap)) ** 2 if tile and size > tile else 1
    return dict(size=size, tile=tile, tiles=n, steps=a.steps, seconds=round(secs, 1), rss_before_mb=round(before),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), threads=torch.get_num_threads(),
                image_mb=round(3 * size * size * 4 / 2**20))

if a.case:
    print(json.dumps(case(*a.case))); sys.exit(0)

rows = []
for size, tile in [(s, 0) for s in a.whole] + [(a.size, a.tile)]:
    cmd = [sys.executable, __file__, '--case', str(size), str(tile), '--steps', str(a.steps), '--preset', a.preset,
           '--threads', str(a.threads), '--overlap', str(a.overlap)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode: print(out.stderr, file=sys.stderr); sys.exit(out.returncode)
    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    r = rows[-1]
    how = f"{r['tiles']} tiles of {tile}" if tile else 'whole'
    print(f"{size}×{size} ({how}, {r['steps']} step(s)): {r['seconds']} s, peak RSS {r['peak_rss_mb']} MB "
          f"(before restoring, model + image: {r['rss_before_mb']} MB; one 3×H×W float32 image: {r['image_mb']} MB)", flush=True)
print(json.dumps(rows))

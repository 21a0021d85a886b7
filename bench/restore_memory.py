"""`tile='auto'`: the memory a restoration plans against what it takes, and its time against fixed 512-px tiles.

For each size and tiling, a fresh process loads the restorer (default: the bundled model), restores a photo
(scikit-image's astronaut enlarged to the size) once to warm up at 64 px, then once timed, and prints: the tile size it
ran in, the planned peak of one network call (`TiledBackbone.call_bytes`, fake tensors), the measured rise of the
peak resident set size over the loaded process (ru_maxrss), and the seconds. Sizes in MiB ('MB' in the printout).
    OMP_NUM_THREADS=2 python bench/restore_memory.py                     # bundled model, 1024² and 2048²
    python bench/restore_memory.py --model runs/restoration --sizes 1024 --tiles auto 512 0
"""
import argparse, json, os, resource, subprocess, sys, time

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--model', default=None, help='a restorer folder (default: the bundled default model)')
p.add_argument('--sizes', type=int, nargs='*', default=[1024, 2048])
p.add_argument('--tiles', nargs='*', default=['auto', '512'], help="'auto', a tile size, or 0 (whole)")
p.add_argument('--memory', type=float, default=None, help='GiB for auto (default: half of what is free)')
p.add_argument('--threads', type=int, default=2)
p.add_argument('--case', nargs=2, default=None, help=argparse.SUPPRESS)
p.add_argument('--results', default=None, help='also write the rows here (JSON)')
a = p.parse_args()

def rss_mb() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

if a.case:                                          # one case, in its own process
    import torch
    from skimage import data
    from multideg.core import numpy_to_tensor
    from multideg.restore import Restorer, TiledBackbone
    torch.set_num_threads(a.threads)
    size, tile = int(a.case[0]), (a.case[1] if a.case[1] == 'auto' else int(a.case[1]))
    kw = dict(device='cpu', tile=tile, **({'memory': a.memory} if a.memory and tile == 'auto' else {}))
    r = Restorer.from_folder(a.model, **kw) if a.model else Restorer.default(**kw)
    photo = numpy_to_tensor(data.astronaut())[None]
    big = torch.nn.functional.interpolate(photo, size=(size, size), mode='bicubic', antialias=True).clamp(0, 1)
    r.restore(big[..., :64, :64])
    before = rss_mb()
    t0 = time.perf_counter(); res = r.restore(big); seconds = time.perf_counter() - t0
    emb = r._condition(big)[0]
    tb = TiledBackbone(r.backbone, None, device='cpu')
    run_at = res.tile or size
    planned = tb.call_bytes(min(run_at, size), min(run_at, size), emb, r.sde is not None, r.tile_batch)
    print(json.dumps({'size': size, 'tile': str(tile), 'memory_gib': a.memory if tile == 'auto' else None,
                      'ran_in': res.tile or 'whole', 'seconds': round(seconds, 2),
                      'planned_mb': round(planned / 2**20), 'rss_rise_mb': round(rss_mb() - before),
                      'rss_loaded_mb': round(before)}))
    sys.exit(0)

rows = []
env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), HF_HUB_OFFLINE='1')
for size in a.sizes:
    for tile in a.tiles:
        cmd = [sys.executable, __file__, '--case', str(size), tile, '--threads', str(a.threads)]
        cmd += ['--model', a.model] if a.model else []
        cmd += ['--memory', str(a.memory)] if a.memory else []
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode: sys.exit(f"case {size} {tile} failed:\n{out.stderr[-2000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1]); rows.append(row)
        print(f"{size}×{size}  tile {row['tile']:>4}: ran in {str(row['ran_in']):>5}  {row['seconds']:6.1f} s  "
              f"planned call {row['planned_mb']:5d} MB  peak RSS rise {row['rss_rise_mb']:5d} MB "
              f"(loaded {row['rss_loaded_mb']} MB)", flush=True)
for size in a.sizes:
    auto = next((r for r in rows if r['size'] == size and r['tile'] == 'auto'), None)
    fixed = next((r for r in rows if r['size'] == size and r['tile'] == '512'), None)
    if auto and fixed:
        print(f"{size}×{size}: auto is {fixed['seconds'] / auto['seconds']:.1f}× faster than 512-px tiles")
if a.results:
    from multideg.core import atomic_write
    import platform, torch
    atomic_write(a.results, json.dumps({'threads': a.threads, 'model': a.model or 'bundled default',
                                        'machine': f"{platform.processor() or platform.machine()}, {os.cpu_count()} "
                                                   f"cores; torch {torch.__version__}", 'rows': rows}, indent=1))

"""Restoring large images: peak memory and time in tiles against whole, and (--agreement) whether tiles agree with it.

Default: the small U-Net preset (random weights: memory and time do not depend on them), the tiny controller, the
`fast` sampler. Each case runs in a fresh process, so its peak resident set size (ru_maxrss) is its own.
    OMP_NUM_THREADS=2 nice python bench/restore.py                      # 4096² in 512-pixel tiles vs 512² whole, 1 step
    python bench/restore.py --size 2048 --tile 256 --steps 2 --whole 256 512

Measured (2 shared CPU cores, load average about 5, torch threads 2, 1 `fast` step, November 2026):
    512×512 whole                    peak RSS 1840 MB   18 s
    1024×1024 whole                  peak RSS 4470 MB   38 s
    1024×1024, 9 tiles of 512        peak RSS 1828 MB   91 s
    4096×4096, 81 tiles of 512       peak RSS 2472 MB   1442 s   (model + image before restoring: 986 MB)
The network's memory follows the tile; what grows with the image is the full-size sampler state on the CPU (about
3.3 float32 copies of the image: +632 MB at 4096² over the 512² run).

--agreement: the demo's default restorer (NAFNet-small, global channel attention, prompt fusion), restored whole, in
tiles as before whole-image statistics (the newest committed TiledBackbone without them: tiles off the network's grid,
each tile its own SCA means, ramps from the tile borders), and in tiles now (`pooling` 'tile', 'image' (with
'image:TOL' its tol, 'image:none' two passes) and 'exact'), on scikit-image's astronaut
enlarged to H×W with haze and noise (multideg's degradations). Printed per case: wall and CPU time (CPU time is the
steadier figure on a shared machine), peak memory; against the whole restoration: PSNR, mean absolute difference,
edge ratio (outer 4 px over interior); and PSNR to the ground truth.
    OMP_NUM_THREADS=1 python bench/restore.py --agreement --model /tmp/demo/restorer   # a trained restorer folder
    OMP_NUM_THREADS=1 python bench/restore.py --agreement --strong              # random NAFNet-small, strong SCA

Measured (2 shared CPU cores, torch threads 1, December 2026; `multideg demo`'s trained restorer, 3072×2048, 512-px
tiles overlapping by 32, 35 tiles; CPU seconds; two runs, the whole image took 37.0 and 38.2 s):
    whole                      37.0 s   peak RSS 4186 MB                                          PSNR to GT 16.43 dB
    old       1 pass           31.9 s            1492 MB   vs whole 27.9 dB, 6.82/255, edge 0.62   16.22 dB
    tile      1 pass           30.1 s            1564 MB            28.1 dB, 6.59/255, edge 0.59   16.21 dB
    image     3 passes         89.1 s            1492 MB            58.7 dB, 0.09/255, edge 0.86   16.43 dB
    image:none 2 passes        63.6 s            1564 MB            55.4 dB, 0.18/255, edge 1.02   16.42 dB
    image:0.01 4 passes       135.3 s            1572 MB            69.5 dB, 0.01/255, edge 1.00   16.43 dB
    exact     9 passes        167.2 s            1572 MB           100.4 dB, 0.00/255, edge 1.00   16.43 dB
(about 0.9 GB of each peak is there before restoring: model, image, Python). With --strong (random weights, SCA
weights ~ N(0, 1)): old 13.2 dB to whole, tile 32.2, image:none 46.5, image (tol 0.01) 69.2, exact 94.7 dB.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--size', type=int, default=4096, help='side of the large (tiled) image')
p.add_argument('--tile', type=int, default=512)
p.add_argument('--overlap', type=int, default=32)
p.add_argument('--whole', type=int, nargs='*', default=[512], help='sides of the images restored whole, for comparison')
p.add_argument('--steps', type=int, default=1, help='sampling steps (network evaluations per tile)')
p.add_argument('--preset', default='small', help='U-Net preset')
p.add_argument('--threads', type=int, default=2)
p.add_argument('--agreement', action='store_true', help='tiled against whole on the demo restorer (NAFNet), see above')
p.add_argument('--model', default=None, help='--agreement: a restorer folder (default: random demo NAFNet-small)')
p.add_argument('--strong', action='store_true', help='--agreement, random model: strong SCA weights (as tests in 08)')
p.add_argument('--hw', type=int, nargs=2, default=[2048, 3072], metavar=('H', 'W'), help='--agreement: image size')
p.add_argument('--cases', nargs='*', default=['whole', 'old', 'tile', 'image', 'exact'],
               help="--agreement: whole, old (before this change), tile / image / exact (TiledBackbone's pooling; "
                    "image:TOL sets its tol, image:none stops after 2 passes)")
p.add_argument('--old', default=None, metavar='REV', help='--agreement: revision with the old tiling (default: found)')
p.add_argument('--case', nargs=2, type=int, default=None, metavar=('SIZE', 'TILE'), help=argparse.SUPPRESS)
p.add_argument('--agreement_case', default=None, help=argparse.SUPPRESS)
p.add_argument('--out', default=None, help=argparse.SUPPRESS)
a = p.parse_args()

def rss_mb() -> float:
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) / 1024

def peak_mb() -> int: return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

def case(size: int, tile: int) -> dict:
    import torch
    import torch.nn.functional as F
    from multideg.controller import ControllerConfig, controller_from_config
    from multideg.restore import Restorer, tile_boxes
    from multideg.inference import TINY_CLIP, RestorerConfig, RestorerParts, build_backbone, build_sde
    from multideg.unet import unet_config
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    ucfg = unet_config(a.preset, fusion={'name': 'prompt', 'embed_dim': 64})
    cfg = RestorerConfig(backbone_config=ucfg, sampler='fast', steps=a.steps)
    ctrl = controller_from_config(ControllerConfig(model=TINY_CLIP))
    parts = RestorerParts(cfg, build_backbone(cfg), build_sde(cfg), ctrl)
    r = Restorer(parts, device='cpu', tile=tile or None, overlap=a.overlap)
    img = F.interpolate(torch.rand(1, 3, max(2, size // 64), max(2, size // 64)), size=(size, size), mode='bilinear')[0]
    before = rss_mb()
    t0 = time.perf_counter()
    res = r.restore(img)
    secs = time.perf_counter() - t0
    assert res.image.shape == (3, size, size) and torch.isfinite(res.image).all()
    n = len(tile_boxes(size, size, tile, a.overlap, parts.backbone.size_multiple)) if tile else 1
    return dict(size=size, tile=tile, tiles=n, steps=a.steps, seconds=round(secs, 1), rss_before_mb=round(before),
                peak_rss_mb=peak_mb(), threads=torch.get_num_threads(), image_mb=round(3 * size * size * 4 / 2**20))

# --agreement ----------------------------------------------------------------------------------------------------------

def old_tiled_backbone():
    "The TiledBackbone before whole-image statistics (the newest commit's without them, or --old's), imported."
    import importlib.util
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    git = lambda *args: subprocess.run(['git', *args], cwd=root, capture_output=True, text=True, check=True).stdout
    revs = [a.old] if a.old else git('log', '--format=%H', '-n', '50', '--', 'multideg/restore.py').split()
    src = next((s for s in (git('show', f'{r}:multideg/restore.py') for r in revs) if 'POOLINGS' not in s), None)
    if src is None: raise SystemExit('no committed multideg/restore.py before whole-image statistics: give --old REV')
    spec = importlib.util.spec_from_loader('multideg._bench_old_restore', loader=None)
    mod = importlib.util.module_from_spec(spec); mod.__package__ = 'multideg'
    sys.modules[spec.name] = mod
    exec(compile(src, 'HEAD:multideg/restore.py', 'exec'), mod.__dict__)
    return mod.TiledBackbone

def agreement_parts():
    import torch
    from multideg.controller import ControllerConfig, controller_from_config
    from multideg.inference import TINY_CLIP, RestorerConfig, RestorerParts, build_backbone, load_restorer
    from multideg.unet import NAFBlock, nafnet_config
    if a.model: return load_restorer(a.model)
    torch.manual_seed(0)
    ncfg = nafnet_config('small', fusion={'name': 'prompt', 'embed_dim': 64})
    cfg = RestorerConfig('nafnet', ncfg, sde=None)
    net = build_backbone(cfg).eval()
    if a.strong:
        with torch.no_grad():
            for p_ in net.parameters(): p_.add_(0.05 * torch.randn_like(p_))
            for b in net.modules():
                if isinstance(b, NAFBlock): b.beta.fill_(0.3); b.gamma.fill_(0.3); b.sca[1].weight.normal_(0, 1.0)
    return RestorerParts(cfg, net, None, controller_from_config(ControllerConfig(model=TINY_CLIP)).eval())

def agreement_image():
    "(LQ, GT), 1×3×H×W: the astronaut enlarged to H×W, moderate haze (β = 1, airlight 0.8) and noise (σ = 15/255)."
    import torch, torch.nn.functional as F
    from skimage import data
    from multideg.degradations import compose
    gt = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float()[None] / 255
    gt = F.interpolate(gt, size=tuple(a.hw), mode='bicubic', align_corners=False).clamp(0, 1)
    lq, _ = compose(gt, [[{'name': 'hazy', 'beta': 1.0, 'airlight': 0.8}, {'name': 'noisy', 'sigma': 15 / 255}]],
                    torch.Generator().manual_seed(0))
    return lq.clamp(0, 1), gt

def agreement_case(name: str) -> dict:
    import torch
    from multideg.restore import Restorer, TiledBackbone, tile_boxes
    from multideg.inference import restore_tensor
    torch.set_num_threads(a.threads)
    parts = agreement_parts()
    if parts.sde is not None: raise SystemExit('--agreement measures a direct restorer (NAFNet), not an IR-SDE one')
    r = Restorer(parts, device='cpu', tile=None)
    lq, _ = agreement_image()
    emb, _, predicted, _ = r._condition(lq)
    before = rss_mb()
    if name == 'whole': net, tiles = r.backbone, 1
    elif name == 'old': net = old_tiled_backbone()(r.backbone, a.tile, a.overlap, 1, device='cpu')
    else:                                                  # 'image:0.1': pooling 'image' with tol 0.1
        pooling, _, tol = name.partition(':')
        kw = {'tol': None if tol == 'none' else float(tol)} if tol else {}
        net = TiledBackbone(r.backbone, a.tile, a.overlap, 1, device='cpu', pooling=pooling, **kw)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad(): out = restore_tensor(net, lq, emb)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    torch.save(out, os.path.join(a.out, f'{name}.pt'))
    tiles = 1 if name == 'whole' else len(tile_boxes(*a.hw, a.tile, a.overlap, getattr(net, 'align', 1)))
    return dict(case=name, seconds=round(secs, 1), cpu_seconds=round(cpu, 1), peak_rss_mb=peak_mb(),
                rss_before_mb=round(before), tiles=tiles, passes=getattr(net, 'passes', [1])[-1],
                calls=getattr(net, 'calls', 1), predicted=predicted)

def agreement():
    import torch
    from multideg.metrics import psnr
    from multideg.restore import edge_ratio
    lq, gt = agreement_image()
    h, w = a.hw
    model = 'trained restorer ' + a.model if a.model else 'random NAFNet-small' + (' (strong SCA)' if a.strong else '')
    print(f"{model}; {w}×{h} astronaut, hazy and noisy (PSNR {psnr(lq, gt).item():.2f} dB); tiles of {a.tile} "
          f"overlapping by {a.overlap}; torch threads {a.threads}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        rows = []
        for name in a.cases:
            cmd = [sys.executable, __file__, '--agreement', '--agreement_case', name, '--out', d,
                   '--hw', str(h), str(w), '--tile', str(a.tile), '--overlap', str(a.overlap),
                   '--threads', str(a.threads)]
            cmd += (['--model', a.model] if a.model else []) + (['--strong'] if a.strong else [])
            cmd += ['--old', a.old] if a.old else []
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode: print(run.stderr, file=sys.stderr); sys.exit(run.returncode)
            r = json.loads(run.stdout.strip().splitlines()[-1])
            out = torch.load(os.path.join(d, f'{name}.pt'))
            r['psnr_gt'] = round(psnr(out, gt).item(), 2)
            if os.path.exists(os.path.join(d, 'whole.pt')) and name != 'whole':
                whole = torch.load(os.path.join(d, 'whole.pt'))
                r.update(psnr_whole=round(psnr(out, whole).item(), 2),
                         mad_whole_255=round((out - whole).abs().mean().item() * 255, 3),
                         edge_ratio=round(edge_ratio(out, whole), 3))
            rows.append(r)
            vs = (f"vs whole: PSNR {r['psnr_whole']:.1f} dB, mean |diff| {r['mad_whole_255']:.2f}/255, "
                  f"edge ratio {r['edge_ratio']:.2f}; " if 'psnr_whole' in r else '')
            print(f"{name:9s} {r['seconds']:6.1f} s ({r['cpu_seconds']:6.1f} s CPU), peak RSS {r['peak_rss_mb']} MB "
                  f"(before restoring {r['rss_before_mb']} MB), {r['tiles']} tiles × {r['passes']} passes; "
                  f"{vs}PSNR to GT {r['psnr_gt']:.2f} dB", flush=True)
        print(json.dumps(rows))

if a.agreement_case:
    print(json.dumps(agreement_case(a.agreement_case))); sys.exit(0)
if a.agreement:
    agreement(); sys.exit(0)
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
          f"(before restoring, model + image: {r['rss_before_mb']} MB; one 3×H×W float32 image: {r['image_mb']} MB)",
          flush=True)
print(json.dumps(rows))

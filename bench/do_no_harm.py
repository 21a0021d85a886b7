"""Do no harm (issue 23): compare demo variants on the same held-out photos, per degradation combination.

Each FOLDER is a finished `multideg demo` (same seed and per_photo, hence the same held-out set). For each, the
restorer is evaluated with each of --blends: 'none' (as trained), 'confidence' (the controller's confidence steering
how far it moves from the input), 'gate' (the input unless PSNR(restored, input) < a threshold, a larger change;
the threshold calibrated as the demo does: `demo_restorer`, pairs of the training photos). One row per (folder,
blend): mean PSNR / SSIM gain, the worst combination in each metric, how many combinations come out worse than
their input on average, the training minutes. --per_photo P evaluates on a larger held-out set made the demo's way (P degraded
versions of each held-out photo, the demo's seed) instead of the folder's own.

    OMP_NUM_THREADS=1 python bench/do_no_harm.py /tmp/dnh/base /tmp/dnh/ident --blends none confidence gate \
        --per_photo 8 --out bench/results/x.md
"""
import argparse, json, shutil, tempfile, time
from dataclasses import replace
from pathlib import Path

from multideg.data import make_dataset
from multideg.degradations import DegradationSampler
from multideg.demo import DEMO_COUNTS, DemoConfig, HeldOutCrops, demo_restorer, demo_sampler
from multideg.evaluate import eval_dataset, evaluate, mark_worse, restorer_fn


def variant_name(cfg: DemoConfig) -> str:
    "What differs from the profile's defaults, in words."
    parts = [f"steps {cfg.restorer_steps}"]
    if cfg.identity_init: parts.append('identity start')
    if cfg.harm_weight: parts.append(f"harm weight {cfg.harm_weight:g}")
    for k in ('highlights', 'grey', 'ssim_weight'):
        if getattr(cfg, k): parts.append(f"{k} {getattr(cfg, k):g}")
    for k, plain in (('pixel_loss', 'l1'), ('harm_scope', 'pixel')):
        if getattr(cfg, k) not in (None, plain): parts.append(f"{k} {getattr(cfg, k)}")
    return ', '.join(parts)


def held_out(cfg: DemoConfig, per_photo: int, work: Path) -> Path:
    ("The demo's held-out set with `per_photo` versions of each photo (made as that demo's version made it: since "
     "2026-12-07 its centre crops degraded, only what shows), under `work`.")
    since = cfg.visible_db is not None                   # demo.json of a demo made with the visibility check
    made = f'-crops{cfg.eval_size}-visible{cfg.visible_db:g}' if since else ''
    folder = work / f"heldout{per_photo}-seed{cfg.seed}{made}"
    if not folder.is_dir():
        make_dataset(folder, HeldOutCrops(cfg.eval_size) if since else 'samples',
                     sampler=demo_sampler(cfg) if since else DegradationSampler(counts=DEMO_COUNTS), seed=cfg.seed,
                     split='val', per_image=per_photo, progress=False)
    return folder


def measure(folder: Path, blend: str, data: Path | None = None) -> dict:
    cfg = replace(DemoConfig.load(folder / 'demo.json'), out=str(folder), device='cpu', blend=blend, gate_psnr=None)
    restorer, gate = demo_restorer(cfg)           # as the demo evaluates it (a gate calibrated as it calibrates it)
    ds = eval_dataset(data or folder / 'data', patch_size=cfg.eval_size)
    t0 = time.time()
    res = evaluate(restorer_fn(restorer), ds, metrics=('psnr', 'ssim'), device='cpu', progress=False)
    rows = mark_worse(res.by_combination())
    combos, s = rows[:-1], rows[-1]
    summ = json.loads((folder / 'summary.json').read_text())
    t = summ['timings_s']
    name = f"blend gate at {gate.gate_psnr:g} dB (calibrated)" if gate else f"blend {blend}"
    return {'variant': f"{folder.name}: {variant_name(cfg)}, {name}", 'n': s['n'], 'combinations': len(combos),
            'input_psnr': s['input_psnr'], 'gain_psnr': s['gain_psnr'], 'input_ssim': s['input_ssim'],
            'gain_ssim': s['gain_ssim'], 'worst_psnr': min(combos, key=lambda r: r['gain_psnr']),
            'worst_ssim': min(combos, key=lambda r: r['gain_ssim']),
            'worse': [r['combination'] for r in combos if r['worse']],
            'worse_images_psnr': sum(r['output_psnr'] < r['input_psnr'] for r in res.rows),
            'recognised': s.get('recognised'), 'train_min': (t['controller'] + t['restorer']) / 60,
            'eval_s': time.time() - t0}


def table(results: list) -> str:
    lines = ["| variant | images | combinations | input PSNR | Δ PSNR | Δ SSIM | worst combination (Δ PSNR) | "
             "worst combination (Δ SSIM) | combinations worse | images worse (PSNR) | recognised | train min |",
             "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|"]
    for r in results:
        wp, ws = r['worst_psnr'], r['worst_ssim']
        rec = '' if r['recognised'] is None else f"{100 * r['recognised']:.0f}%"
        lines.append(f"| {r['variant']} | {r['n']} | {r['combinations']} | {r['input_psnr']:.2f} | "
                     f"{r['gain_psnr']:+.2f} | {r['gain_ssim']:+.4f} | {wp['combination']} ({wp['n']}): "
                     f"{wp['gain_psnr']:+.2f} | {ws['combination']} ({ws['n']}): {ws['gain_ssim']:+.4f} | "
                     f"{len(r['worse'])} | {r['worse_images_psnr']} | "
                     f"{rec} | {r['train_min']:.1f} |")
    return '\n'.join(lines)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('folders', nargs='+')
    ap.add_argument('--blends', nargs='+', default=['none'], choices=('none', 'confidence', 'gate'))
    ap.add_argument('--per_photo', type=int, default=None, help="a held-out set of this many versions per photo "
                                                                "(default: each folder's own)")
    ap.add_argument('--out', help='write the table (Markdown) here')
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    data = {f: held_out(DemoConfig.load(Path(f) / 'demo.json'), a.per_photo, work) if a.per_photo else None
            for f in a.folders}
    results = [measure(Path(f), b, data[f]) for f in a.folders for b in a.blends]
    shutil.rmtree(work)
    text = table(results)
    print(text)
    if a.out: Path(a.out).write_text(text + '\n')

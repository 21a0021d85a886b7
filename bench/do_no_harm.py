"""Do no harm (issue 23): compare demo variants on the same held-out photos, per degradation combination.

Each FOLDER is a finished `multideg demo` (same seed and per_photo, hence the same held-out set). For each, the
restorer is evaluated as trained (blend 'none') and, with --blend, with the controller's confidence steering how far
it moves from the input (blend 'confidence'). One row per (folder, blend): mean PSNR / SSIM gain, the worst
combination in each metric, how many combinations come out worse than their input on average, the training minutes.

    OMP_NUM_THREADS=1 python bench/do_no_harm.py /tmp/dnh/base /tmp/dnh/ident --blend --out bench/results/x.md
"""
import argparse, json, time
from pathlib import Path

from multideg.demo import DemoConfig
from multideg.evaluate import mark_worse
from multideg.evaluate import eval_dataset, evaluate, restorer_fn
from multideg.restore import Restorer


def variant_name(cfg: DemoConfig) -> str:
    "What differs from the profile's defaults, in words."
    parts = [f"steps {cfg.restorer_steps}"]
    if cfg.identity_init: parts.append('identity start')
    if cfg.harm_weight: parts.append(f"harm weight {cfg.harm_weight:g}")
    return ', '.join(parts)


def measure(folder: Path, blend: str) -> dict:
    cfg = DemoConfig.load(folder / 'demo.json')
    restorer = Restorer.from_folder(folder / 'restorer', device='cpu', sampler=cfg.sampler, steps=cfg.steps,
                                    seed=cfg.seed, blend=blend)
    ds = eval_dataset(folder / 'data', patch_size=cfg.eval_size)
    t0 = time.time()
    res = evaluate(restorer_fn(restorer), ds, metrics=('psnr', 'ssim'), device='cpu', progress=False)
    rows = mark_worse(res.by_combination())
    combos, s = rows[:-1], rows[-1]
    summ = json.loads((folder / 'summary.json').read_text())
    t = summ['timings_s']
    return {'variant': f"{folder.name}: {variant_name(cfg)}, blend {blend}", 'n': s['n'], 'combinations': len(combos),
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
    ap.add_argument('--blend', action='store_true', help="also evaluate with blend='confidence'")
    ap.add_argument('--out', help='write the table (Markdown) here')
    a = ap.parse_args()
    results = [measure(Path(f), b) for f in a.folders for b in (('none', 'confidence') if a.blend else ('none',))]
    text = table(results)
    print(text)
    if a.out: Path(a.out).write_text(text + '\n')

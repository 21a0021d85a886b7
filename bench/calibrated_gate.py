"""Do no harm by calibration (issues 23, 24): restore only what the restorer is measured to help with.

The bundled default model gains on some degradation types and is slightly worse on others. This bench calibrates a
gate on pairs made from the TRAINING photos (never the held-out ones): for each type, the mean PSNR gain of the pairs
whose detected set holds it. At restore time the output is the restoration when every detected type has a positive
calibrated gain, else the input (nothing detected: the input). The gate is then measured on the held-out set of
bench/default_model.py (preset 'upto2', 256-px crops, seed 0) against the ungated model measured there.

    HF_HUB_OFFLINE=1 python bench/calibrated_gate.py --n_cal 420 --n 600 --out bench/results/calibrated_gate_cpu.md
"""
import argparse, json, time
from collections import defaultdict
from pathlib import Path

from multideg.core import atomic_write
from multideg.data import SampleImages
from multideg.evaluate import mark_worse
from multideg.evaluate import SyntheticEval, eval_dataset, evaluate
from multideg.metrics import psnr
from multideg.restore import Restorer


def calibrate(r: Restorer, ds) -> dict:
    "Per detected type: (pairs, mean PSNR gain of the restoration over its input) on the calibration pairs `ds`."
    gains = defaultdict(list)
    for i in range(len(ds)):
        it = ds[i]
        res = r.restore(it['lq'])
        g = (psnr(res.image[None], it['gt'][None]) - psnr(it['lq'][None], it['gt'][None])).item()
        for n in res.predicted: gains[n].append(g)
    return {n: (len(v), sum(v) / len(v)) for n, v in sorted(gains.items())}


def summary(name: str, res, seconds: float) -> dict:
    rows = mark_worse(res.by_combination())
    combos, s = rows[:-1], rows[-1]
    return {'variant': name, 'n': s['n'], 'gain_psnr': s['gain_psnr'], 'gain_ssim': s['gain_ssim'],
            'worst': min(combos, key=lambda c: c['gain_psnr']),
            'worse': [c['combination'] for c in combos if c['worse']],
            'combinations': len(combos), 'seconds': seconds}


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n_cal', type=int, default=420, help='calibration pairs of the training photos')
    ap.add_argument('--n', type=int, default=600, help='held-out pairs')
    ap.add_argument('--patch_size', type=int, default=256)
    ap.add_argument('--baseline', default='bench/results/default_model_cpu.json',
                    help="bench/default_model.py's results: the ungated model on the same held-out set")
    ap.add_argument('--out', default=None, help='write the table here (Markdown) and the figures as JSON beside it')
    a = ap.parse_args()
    r = Restorer.default(device='cpu')
    t0 = time.time()
    cal = calibrate(r, SyntheticEval('upto2', n=a.n_cal, patch_size=a.patch_size, seed=1,
                                     source=SampleImages('train')))
    cal_s = time.time() - t0
    helps = {n for n, (_, g) in cal.items() if g > 0}
    print('calibration (pairs, mean gain):', {n: (k, round(g, 2)) for n, (k, g) in cal.items()}, flush=True)
    ds = eval_dataset('synthetic', preset='upto2', n=a.n, patch_size=a.patch_size, seed=0)
    kept = []
    def gated(lq):
        res = r.restore(lq.cpu())
        on = bool(res.predicted) and all(n in helps for n in res.predicted)
        kept.append(on)
        return (res.image[None] if on else lq.cpu()), res.predicted
    base = json.loads(Path(a.baseline).read_text())['rows'][0]        # the same held-out set, ungated
    assert base['n'] == a.n, f"{a.baseline} measured {base['n']} pairs, not --n {a.n}"
    rows = [{'variant': f"default model, ungated ({a.baseline})", 'gain_psnr': base['gain_psnr'],
             'gain_ssim': base['gain_ssim'], 'worst': {'combination': base['worst_psnr'], 'n': '', 'gain_psnr': None},
             'worse': base['worse'], 'combinations': base['combinations']}]
    for name, fn in (('default model, calibrated gate', gated),):
        t0 = time.time()
        res = evaluate(fn, ds, metrics=('psnr', 'ssim'), device='cpu', progress=False)
        rows.append(summary(name, res, time.time() - t0))
        w = rows[-1]['worst']
        w['combination'] = f"{w['combination']} ({w['n']}): {w['gain_psnr']:+.2f}"
        print(f"{name}: {rows[-1]['gain_psnr']:+.2f} dB, SSIM {rows[-1]['gain_ssim']:+.4f}, "
              f"{len(rows[-1]['worse'])} of {rows[-1]['combinations']} combinations worse, worst "
              f"{w['combination']}", flush=True)
    lines = ["# Do no harm by a calibrated gate: the bundled default model on held-out photos", "",
             f"Calibration: {a.n_cal} pairs of the training photos (preset upto2, seed 1, {a.patch_size}-px crops, "
             f"{cal_s / 60:.1f} min); per detected type, pairs and mean PSNR gain: "
             + ', '.join(f"{n} {k}: {g:+.2f}" for n, (k, g) in cal.items())
             + f". Restored when every detected type gains: {', '.join(sorted(helps)) or 'none'}.", "",
             f"Held-out: {a.n} pairs (preset upto2, seed 0, {a.patch_size}-px crops); the gate restored "
             f"{sum(kept)} of {len(kept)}.", "",
             "| variant | Δ PSNR | Δ SSIM | worst combination (Δ PSNR) | combinations worse |",
             "|---|---:|---:|---|---:|"]
    for row in rows:
        w = row['worst']
        lines.append(f"| {row['variant']} | {row['gain_psnr']:+.2f} | {row['gain_ssim']:+.4f} | "
                     f"{w['combination']} | {len(row['worse'])} of {row['combinations']} |")
    text = '\n'.join(lines) + '\n'
    print(text)
    if a.out:
        atomic_write(a.out, text)
        atomic_write(Path(a.out).with_suffix('.json'), json.dumps({'calibration': cal, 'rows': [
            {k: v for k, v in row.items() if k != 'worst'} | {'worst': row['worst']['combination']} for row in rows]},
            indent=1, default=float))

"""The bundled default model (or a restorer folder) with each way of filling missing regions (issue 24).

Restores the model card's held-out set (600 pairs, preset upto2, seed 0, 256-px crops) once per fill ('network': the
network's own fill; 'smooth': `fill_holes`, notebook 12) with the model's blend, and prints the PSNR gain, SSIM, the
combinations worse than their input on average, and on how many images with holes the controller named
'uncompleted' (only those get the smooth fill).

    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 python bench/fill_named.py                 # the bundled model
    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 python bench/fill_named.py --model RUN_DIR/restorer --fills smooth
"""
import argparse, time

from multideg.evaluate import eval_dataset, evaluate, mark_worse, restorer_fn
from multideg.inference import FILLS
from multideg.restore import Restorer, default_model_folder

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default=None, help='a restorer folder (default: the bundled model)')
    ap.add_argument('--fills', nargs='+', choices=FILLS, default=list(FILLS))
    ap.add_argument('--n', type=int, default=600)
    a = ap.parse_args()
    ds = eval_dataset('synthetic', preset='upto2', n=a.n, patch_size=256, seed=0)
    for fill in a.fills:
        r = Restorer.from_folder(a.model or default_model_folder(), device='cpu', fill=fill)
        t = time.time()
        res = evaluate(restorer_fn(r), ds, metrics=('psnr', 'ssim'), device='cpu', progress=False)
        rows = mark_worse(res.by_combination())
        s, worse = rows[-1], [x for x in rows[:-1] if x['worse']]
        holes = [x for x in res.rows if 'uncompleted' in x['combination'].split('+')]
        named = sum('uncompleted' in x['predicted'].split('+') for x in holes)
        print(f"fill {fill}: {r!r}; {time.time() - t:.0f} s\n  PSNR {s['input_psnr']:.2f} -> {s['output_psnr']:.2f} dB "
              f"({s['gain_psnr']:+.2f}), SSIM {s['input_ssim']:.4f} -> {s['output_ssim']:.4f}; worse {len(worse)} of "
              f"{len(rows) - 1}: " + '; '.join(f"{x['combination']} (n={x['n']}: {x['gain_psnr']:+.2f} dB, SSIM "
                                              f"{x['gain_ssim']:+.4f})" for x in worse)
              + f"\n  'uncompleted' named on {named} of the {len(holes)} images with holes", flush=True)

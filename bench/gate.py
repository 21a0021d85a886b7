"""Do no harm by a gate (issues 23, 24): return the input untouched when the restoration changes it only a little.

The bundled default model changes most images a little (PSNR of its output against its input above 40 dB) and those
small changes gain nothing on average. `blend='gate'` (`RestorerConfig.gate_psnr`) returns the input itself unless
PSNR(restored, input) < the threshold (a larger change). This bench restores each image once (blend none), records how
much the restoration changed it, and measures the gate offline at several thresholds on two sets: calibration pairs
from the TRAINING photos (preset upto2, seed 1), where a threshold may be chosen, and the held-out set of the model card
(bench/default_model.py: 600 pairs of the held-out photos, preset upto2, seed 0, 256-px crops). Then it restores the
held-out set once more with the library's own `Restorer(blend='gate', gate_psnr=--check)` and checks that it gives
exactly the offline row.

The gate's second rule (`RestorerConfig.gate_brighten`, `gate_reason`): the input is also returned when the restoration
brightens it by more than 0.02 on average while the controller named neither low light nor shadow. Each table is given
without it ('threshold only') and with it (the library's gate), with the photos whose images it returned.

    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 python bench/gate.py --out bench/results/gate_cpu.md
"""
import argparse, collections, json, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from default_model import summary_row                              # bench/default_model.py
from multideg.core import atomic_write
from multideg.data import SampleImages
from multideg.evaluate import SyntheticEval, calibrate_gate, eval_dataset, evaluate, gate_returns, gated, restorer_fn
from multideg.inference import FILLS
from multideg.restore import Restorer


def table(res, changes, thresholds, brightened=None) -> tuple[list, list[str]]:
    rows, lines = [], ["| gate (dB) | images restored | Δ PSNR | Δ SSIM | worst combination (Δ PSNR) | "
                       "combinations worse (PSNR or SSIM) | worse in PSNR | images worse (PSNR) |",
                       "|---|---:|---:|---:|---|---:|---:|---:|"]
    for t in thresholds:
        g = gated(res, changes, t, brightened) if t is not None else res
        row = summary_row('none' if t is None else f'{t:g}', g, 0.0)
        row['worse_psnr'] = sum(c['gain_psnr'] < 0 for c in g.by_combination()[:-1])
        row['restored'] = len(changes) - (0 if t is None else sum(gate_returns(changes, t, brightened)))
        rows.append(row)
        lines.append(f"| {row['variant']} | {row['restored']} | {row['gain_psnr']:+.3f} | {row['gain_ssim']:+.4f} | "
                     f"{row['worst_psnr']} | {len(row['worse'])} of {row['combinations']} | {row['worse_psnr']} | "
                     f"{row['images_worse']} |")
    return rows, lines


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n_cal', type=int, default=420, help='calibration pairs of the training photos')
    ap.add_argument('--n', type=int, default=600, help='held-out pairs')
    ap.add_argument('--thresholds', type=float, nargs='*', default=[20, 25, 30, 35, 40, 45, 50])
    ap.add_argument('--check', type=float, default=40.0, help="the library's gate measured at this threshold")
    ap.add_argument('--fill', choices=FILLS, default=None,
                    help="missing regions: the model's way (default) or this one")
    ap.add_argument('--out', default=None, help="write the tables here (Markdown; a '## What it says' section already "
                                                "there is kept) and the figures as JSON beside it")
    a = ap.parse_args()
    sets = {'calibration (training photos, seed 1)':
                SyntheticEval('upto2', n=a.n_cal, patch_size=256, seed=1, source=SampleImages('train')),
            'held-out (the model card\'s set, seed 0)': eval_dataset('synthetic', preset='upto2', n=a.n,
                                                                        patch_size=256, seed=0)}
    r = Restorer.default(device='cpu', blend='none', fill=a.fill)
    text, out = ["# Do no harm by a gate: the bundled default model, its input returned when it changes it little or "
                 "brightens it unasked", "",
                 "Each image restored once (blend none); PSNR of the output against its input recorded; the gate at "
                 "T dB keeps the restoration only when that PSNR is below T (a larger change), else the input's "
                 "scores. With the brightening rule (`RestorerConfig.gate_brighten`, the library's gate), an image "
                 f"whose restoration brightens it by more than {r.gate_brighten:g} on average while the controller "
                 "named neither low light nor shadow keeps its input's scores at any threshold. "
                 "`python bench/gate.py`, one process, CPU."
                 + (f" Missing regions: fill {r.fill}." if a.fill else ''),
                 ""], {}
    thresholds = sorted(set(a.thresholds) | {a.check})      # the library is checked against its row
    for name, ds in sets.items():
        t0 = time.time()
        cal = calibrate_gate(r, ds, thresholds)              # each image restored once, the gate scored offline
        res, changes, s = cal.results, cal.changes, time.time() - t0
        plain, plain_lines = table(res, changes, [None] + thresholds)
        rows, lines = table(res, changes, [None] + thresholds, cal.brightened_unasked)
        returned = [row for row, u in zip(res.rows, cal.brightened_unasked) if u]
        photos = collections.Counter(row['name'].rsplit('_', 1)[0] for row in returned)
        gains = [row['output_psnr'] - row['input_psnr'] for row in returned]
        gain = sum(gains) / max(len(gains), 1)
        out[name] = {'rows': rows, 'threshold_only': plain, 'changes': changes,
                     'brightened_unasked': cal.brightened_unasked, 'brightened_photos': dict(photos),
                     'brightened_gains_psnr': gains, 'seconds': s}
        start = len(text)                                    # this set's section, printed when done
        text += [f"## {name}: {len(changes)} pairs ({s / 60:.1f} min)", "", "Threshold only:", ""] + plain_lines + [
                 "", f"The library's gate (with the brightening rule at {r.gate_brighten}):", ""] + lines + [""]
        text += [f"The brightening rule returns {len(returned)} image(s) whatever the threshold "
                 f"({', '.join(f'{k} {v}' for k, v in photos.most_common()) or 'none'})"
                 + (f"; restored, they gained {gain:+.2f} dB on average, {min(gains):+.2f} dB the worst and "
                    f"{max(gains):+.2f} dB the best." if gains else "."), ""]
        if name == list(sets)[0]:
            text += [f"`calibrate_gate`'s rule (`choose_gate`, tolerance 0.1) picks {cal.gate_psnr:g} dB on these "
                     f"pairs (with the brightening rule).", ""]
        print('\n'.join(text[start:]), flush=True)
    held = list(sets)[1]
    t0 = time.time()
    checked = Restorer.default(device='cpu', blend='gate', gate_psnr=a.check, fill=a.fill)
    lib = evaluate(restorer_fn(checked), sets[held],
                   metrics=('psnr', 'ssim'), device='cpu', progress=False)
    s = time.time() - t0
    mine = next(row for row in out[held]['rows'] if row['variant'] == f'{a.check:g}')
    theirs = summary_row('library', lib, s)
    same = all(abs(mine[k] - theirs[k]) < 1e-9 for k in ('gain_psnr', 'gain_ssim')) and mine['worse'] == theirs['worse']
    text += [f"The library's gate (`Restorer.default(blend='gate', gate_psnr={a.check:g})`) on the held-out set: "
             f"{theirs['gain_psnr']:+.3f} dB, SSIM {theirs['gain_ssim']:+.4f}, {len(theirs['worse'])} of "
             f"{theirs['combinations']} combinations worse: {'the same as' if same else 'DIFFERENT from'} the offline "
             f"row {a.check:g} ({s / 60:.1f} min).", ""]
    print(text[-2], flush=True)
    if a.out:
        old = Path(a.out).read_text() if Path(a.out).is_file() else ''
        notes = old[old.index('\n## What it says'):] if '\n## What it says' in old else ''   # kept: written by hand
        atomic_write(a.out, '\n'.join(text) + notes)
        atomic_write(Path(a.out).with_suffix('.json'), json.dumps({**out, 'library': theirs, 'same': same},
                                                                  indent=1, default=float))
    sys.exit(0 if same else 1)

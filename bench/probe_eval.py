"""Compare restorer folders (e.g. bench/finetune_probe.py's probes) on what the default model's card measures: the
held-out set (600 pairs of the held-out photos, preset 'upto2', 256-px crops, seed 0): gains, combinations worse,
images losing more than 0.3 dB; and the images with nothing to restore (PSNR of the output against the clean input).

    python bench/probe_eval.py /tmp/probe_ctl /tmp/probe_grey --names control grey0.2 --out /tmp/probes.json
"""
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from default_model import clean_probe, measure, summary_row       # bench/default_model.py
from harm_by_photo import by_photo                                 # bench/harm_by_photo.py
from multideg.core import atomic_write
from multideg.evaluate import eval_dataset

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('folders', nargs='+', help='restorer folders')
    ap.add_argument('--names', nargs='*', default=None, help='a name per folder (default: the folder)')
    ap.add_argument('--n', type=int, default=600)
    ap.add_argument('--out', default=None, help='write the rows here (JSON)')
    a = ap.parse_args()
    names = a.names or a.folders
    if len(names) != len(a.folders): ap.error('--names: one per folder')
    ds = eval_dataset('synthetic', preset='upto2', n=a.n, patch_size=256, seed=0)
    rows = []
    for name, folder in zip(names, a.folders):
        res, s = measure(Path(folder), ds, 'none')
        row = summary_row(name, res, s)
        row['much_worse'] = sum(p['much_worse'] for p in by_photo(res))
        row['clean'] = {c['image']: round(c['psnr'], 2) for c in clean_probe(Path(folder))}
        rows.append(row)
        print(f"{name}: {row['input_psnr']:.2f} -> {row['output_psnr']:.2f} dB ({row['gain_psnr']:+.2f}), SSIM "
              f"{row['gain_ssim']:+.4f}; worst {row['worst_psnr']}; {len(row['worse'])} of {row['combinations']} "
              f"combinations worse; {row['much_worse']} images lose > 0.3 dB; clean: "
              + ', '.join(f"{k} {v:.1f}" for k, v in row['clean'].items()), flush=True)
    if a.out: atomic_write(a.out, json.dumps(rows, indent=1))

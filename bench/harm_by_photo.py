"""Where a restorer does harm: the held-out set of bench/default_model.py (preset 'upto2' on the held-out photos,
256-px centre crops, seed 0) restored by each model folder given, summarised by photo, with the images made most worse
and a figure of them (degraded | restored | clean | the change, x8).

    python bench/harm_by_photo.py multideg/models/default --worst 6 --figure /tmp/worst.png

This found that the first bundled model painted over grace_hopper's white collar as if it were one of the white holes
of 'uncompleted' (bench/results/highlights_cpu.md).
"""
import argparse
from pathlib import Path

import torch

from multideg.core import save_image
from multideg.evaluate import eval_dataset, evaluate, markdown_table, restorer_fn, table_columns
from multideg.restore import Restorer


def photo_of(row: dict) -> str:
    "The held-out photo an evaluated row comes from (item names are PHOTO_NN)."
    return row['name'].rsplit('_', 1)[0]


def by_photo(res, threshold: float = 0.3) -> list[dict]:
    ("One summary row per held-out photo (item names are PHOTO_NN), with the numbers of its images made worse in PSNR "
     "and made worse by more than `threshold` dB.")
    groups = {}
    for row in res.rows: groups.setdefault(photo_of(row), []).append(row)
    loss = lambda r: r['input_psnr'] - r['output_psnr']
    return [{'photo': k, **res.summary(v), 'worse': sum(loss(r) > 0 for r in v),
             'much_worse': sum(loss(r) > threshold for r in v)} for k, v in groups.items()]


def without_photo(res, photo: str) -> list[dict]:
    "The combinations worse than their input on average in PSNR, over the images of every photo but `photo`."
    groups = {}
    for row in res.rows:
        if photo_of(row) != photo: groups.setdefault(row['combination'], []).append(row)
    means = {k: sum(r['output_psnr'] - r['input_psnr'] for r in v) / len(v) for k, v in groups.items()}
    return sorted(({'combination': k, 'gain_psnr': m} for k, m in means.items() if m < 0),
                  key=lambda r: r['gain_psnr'])


def worst_figure(restorer, ds, rows: list[dict], path: Path) -> None:
    "lq | restored | gt | |restored - lq| x 8, one row per image in `rows`."
    lines = []
    for row in rows:
        it = ds[row['index']]
        out = restorer.restore(it['lq'][None]).image
        change = (out - it['lq']).abs().mean(0, keepdim=True).expand(3, -1, -1).mul(8).clamp(0, 1)
        lines.append(torch.cat([it['lq'], out, it['gt'], change], -1))
    grid = torch.nn.functional.interpolate(torch.cat(lines, -2)[None], scale_factor=0.5, mode='area')[0]
    save_image(grid, path)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('models', nargs='+', help='restorer folders (a run, or multideg/models/default)')
    ap.add_argument('--n', type=int, default=600, help='held-out pairs (default: %(default)s)')
    ap.add_argument('--patch_size', type=int, default=256)
    ap.add_argument('--worst', type=int, default=10, help='list this many images made most worse')
    ap.add_argument('--figure', default=None, help="a figure of the first model's worst images (.png, .jpg)")
    ap.add_argument('--threshold', type=float, default=0.3,
                    help='count the images losing more dB (default: %(default)s)')
    a = ap.parse_args()
    ds = eval_dataset('synthetic', preset='upto2', n=a.n, patch_size=a.patch_size, seed=0)
    for k, folder in enumerate(a.models):
        r = Restorer.from_folder(folder, device='cpu')
        res = evaluate(restorer_fn(r), ds, metrics=('psnr', 'ssim'), device='cpu', progress=False)
        print(f"## {folder}\n")
        photos = by_photo(res, a.threshold)
        print(markdown_table(photos, table_columns(res, 'photo') + [('worse', 'images worse (PSNR)'),
                                                                    ('much_worse', f'losing > {a.threshold:g} dB')]))
        for p in photos:
            worse = without_photo(res, p['photo'])
            print(f"\nwithout {p['photo']}: {len(worse)} combinations worse in PSNR"
                  + (f", the worst {worse[0]['combination']} {worse[0]['gain_psnr']:+.3f} dB" if worse else ''))
        rows = sorted(res.rows, key=lambda row: row['output_psnr'] - row['input_psnr'])[:a.worst]
        print(f"\nthe {a.worst} images made most worse:\n")
        print('\n'.join(f"- {row['name']} ({row['combination']}): {row['input_psnr']:.2f} → "
                        f"{row['output_psnr']:.2f} dB" for row in rows), '\n', flush=True)
        if a.figure and k == 0: worst_figure(r, ds, rows[:6], Path(a.figure))

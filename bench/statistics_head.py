"""What limits the statistics head's recognition (issue 23): its exact-set accuracy against the number of crops it is
fitted on, the same crops, test and validation images as `bench/controller.py --patch_size 128 --visible_size 128
--set statistics=N` (1-2 of the 12 degradations, each visible at 30 dB at 128 px), and fit settings beside the
default (`fit_statistics_head`: 100 epochs, width 256, dropout 0.1). The head reads `image_statistics` only, so no CLIP
is trained: a random tiny CLIP carries it. The crops of a smaller count are the first ones of the largest (each item
has its own seed), so each row adds crops to the one above. Decoding: the best set of size 1 or 2 by the head's
likelihood (`ControllerConfig.set_sizes`), as `bench/controller.py` chose on its validation images.

    OMP_NUM_THREADS=2 python bench/statistics_head.py --crops 10000 30000 90000 \
        --out bench/results/statistics_head_cpu.md
"""
import argparse, json, sys, time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from multideg.controller import StatisticsHead, controller_from_config, fit_statistics_head, predict_sets, set_metrics
from multideg.controller_training import ControllerTrainConfig, controller_data, statistics_data

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--crops', type=int, nargs='+', default=[10000, 30000, 90000], help='crop counts to fit the head on')
p.add_argument('--size', type=int, default=128, help='px of the crops, test and validation images')
p.add_argument('--n_test', type=int, default=400)
p.add_argument('--n_val', type=int, default=512)
p.add_argument('--variants', type=int, default=10000,
               help='also fit other settings on this many crops (0: none): dropout, epochs, width, weight decay')
p.add_argument('--seed', type=int, default=0)
p.add_argument('--out', default=None, help='a .md file for the table (and its .json)')
a = p.parse_args()

@dataclass
class BenchConfig(ControllerTrainConfig):
    "bench/controller.py's config: the draw-time visibility check at the crops' size."
    visible_db: float | None = 30.0
    visible_size: int | None = None
    def sampler(self):
        return replace(super().sampler(), visible_db=self.visible_db, visible_size=self.visible_size)

t0 = time.time()
cfg = BenchConfig(out='/tmp/multideg-bench-statistics-head', patch_size=a.size, visible_size=a.size,
                  statistics=max(a.crops), statistics_size=a.size, seed=a.seed)
S, tru = statistics_data(cfg)
draw_s = time.time() - t0
def images(split_cfg):
    ds = controller_data(split_cfg, 'val', a.size)
    items = [ds[i] for i in range(len(ds))]
    return torch.stack([it['lq'] for it in items]), [[r['name'] for r in it['records']] for it in items]
sets = {'test': images(replace(cfg, seed=cfg.seed + 1000, val_count=a.n_test)),   # bench/controller.py's test images
        'validation': images(replace(cfg, val_count=a.n_val))}
print(f"{len(S)} crops of {a.size} px drawn and measured in {draw_s:.0f} s; test and validation images in "
      f"{time.time() - t0 - draw_s:.0f} s", flush=True)

model = controller_from_config(replace(cfg.controller_config(), set_sizes=(1, 2)))
n_statistics = model.stats_head.n_statistics
def row(n, head=None, **fit):
    "Fit a head (StatisticsHead's `head` settings; None: the default) on the first n crops; its accuracies."
    model.stats_head = StatisticsHead(len(model.config.names), n_statistics=n_statistics, **(head or {}))
    t = time.time()
    fit_statistics_head(model, S[:n], tru[:n], seed=cfg.seed, **fit)
    fit_s = time.time() - t
    out = {'crops': n, 'fit': {**(head or {}), **fit}, 'fit_s': fit_s}
    for k, (x, true) in sets.items():
        m = set_metrics(predict_sets(model, x)[1], true, model.config.names)
        out[k] = {'exact': m['exact'], 'exact_1': m['exact_by_count'][1][0], 'exact_2': m['exact_by_count'][2][0],
                  'shadowed_f1': m['per_type']['shadowed']['f1'], 'raindrop_f1': m['per_type']['raindrop']['f1'],
                  'snowy_f1': m['per_type']['snowy']['f1'], 'rainy_f1': m['per_type']['rainy']['f1']}
    print(json.dumps(out), flush=True)
    return out
rows = [row(n) for n in sorted(a.crops)]
if a.variants:
    rows += [row(a.variants, dict(dropout=0.3)), row(a.variants, dict(dropout=0.5)), row(a.variants, dict(width=512)),
             row(a.variants, weight_decay=0.1), row(a.variants, epochs=50), row(a.variants, epochs=200)]

lines = ["| crops | fit settings (besides the default) | fit (s) | " + ' | '.join(
         f"{k} exact | with 1 | with 2" for k in sets) + " | shadowed F1 | raindrop F1 | snowy F1 | rainy F1 |",
         '|' + '---:|' * 2 + '---:|' + '---:|' * (3 * len(sets) + 4)]
for r in rows:
    t = r['test']
    lines.append(f"| {r['crops']:,} | {', '.join(f'{k} {v}' for k, v in r['fit'].items()) or '-'} | {r['fit_s']:.0f} | "
                 + ' | '.join(f"{r[k]['exact']:.3f} | {r[k]['exact_1']:.3f} | {r[k]['exact_2']:.3f}" for k in sets)
                 + f" | {t['shadowed_f1']:.3f} | {t['raindrop_f1']:.3f} | {t['snowy_f1']:.3f} | {t['rainy_f1']:.3f} |")
table = '\n'.join(lines)
print(f"\n{table}\n(per-type F1 on the test images; {len(S)} crops drawn and measured in {draw_s:.0f} s; "
      f"{(time.time() - t0) / 60:.1f} min in all)")
if a.out:
    Path(a.out).with_suffix('.json').write_text(json.dumps({'args': vars(a), 'draw_s': draw_s, 'rows': rows,
                                                            'torch': torch.__version__}, indent=1))
    Path(a.out).write_text('    python bench/statistics_head.py ' + ' '.join(sys.argv[1:]) + f"\n\n{table}\n")

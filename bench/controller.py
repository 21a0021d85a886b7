"""Degradation recognition of a trained controller: exact-set accuracy on held-out images with 1-2 degradations drawn
from the 12 types, beside the zero-shot CLIP baseline (no controller, told each image's number of degradations).

CPU, tiny CLIP trained from scratch (about --minutes of training; the step count is set from a short timing run):
    OMP_NUM_THREADS=2 python bench/controller.py
Full scale, pretrained CLIP weights on disk, on a GPU (DA-CLIP's lr and a large batch):
    python bench/controller.py --model ViT-B-32 --pretrained laion2b_s34b_b79k --device cuda --lr 3e-5 --batch_size 256
"""
import argparse, json, shutil, time
from dataclasses import replace
from pathlib import Path

import torch
from multideg.controller import controller_from_config, evaluate_recognition, cooccurrence, plot_confusion
from multideg.train import ControllerTrainConfig, controller_data, load_controller, read_metrics, train_controller

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--model', default='tiny', help="'tiny' (a small CLIP built from scratch) or an open_clip model name")
p.add_argument('--pretrained', default=None, help='CLIP weights: an open_clip tag (on disk) or a file')
p.add_argument('--device', default='cpu')
p.add_argument('--minutes', type=float, default=9.0, help='training time to plan for (steps are set from a timing run)')
p.add_argument('--steps', type=int, default=None, help='training steps (overrides --minutes)')
p.add_argument('--batch_size', type=int, default=32)
p.add_argument('--lr', type=float, default=None, help='peak lr (default: ControllerTrainConfig, 1e-3 for the tiny CLIP)')
p.add_argument('--n_test', type=int, default=400, help='held-out test images')
p.add_argument('--out', default='/tmp/multideg-bench-controller')
p.add_argument('--seed', type=int, default=0)
p.add_argument('--threads', type=int, default=None)
a = p.parse_args()
if a.threads: torch.set_num_threads(a.threads)
t_start = time.time()

base = ControllerTrainConfig(out=str(Path(a.out) / 'run'), model=a.model, pretrained=a.pretrained, device=a.device,
                             batch_size=a.batch_size, seed=a.seed, log_every=50, tensorboard=False,
                             **({'lr': a.lr} if a.lr is not None else {}))
controller_from_config(base.controller_config())      # fails at once when the CLIP weights are not on disk
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {a.device}, model {a.model}"
      + (f" / {a.pretrained}" if a.pretrained else ' (random CLIP)'))

steps = a.steps
if steps is None:   # a short run of the same configuration gives the step rate
    probe = replace(base, out=str(Path(a.out) / 'probe'), steps=16, warmup=0, val_every=0, save_every=0, log_every=8, val_count=8)
    shutil.rmtree(probe.out, ignore_errors=True)
    train_controller(probe)
    rate = read_metrics(probe.out, 'train')['steps_per_s'][-1][1]   # steps 9-16: without the first steps' set-up
    steps = max(100, int(rate * 60 * a.minutes * 0.9))   # 10 % for validation and checkpoints
    print(f"timing run: {rate:.2f} steps/s -> {steps} steps for {a.minutes} min")
cfg = replace(base, steps=steps, warmup=min(100, steps // 10), val_every=max(50, steps // 5), save_every=max(50, steps // 5),
              time_limit=1.5 * a.minutes if a.steps is None else None)
shutil.rmtree(cfg.out, ignore_errors=True)
t0 = time.time()
trainer = train_controller(cfg)
train_s = time.time() - t0

model = load_controller(cfg.out, device=a.device) if (Path(cfg.out) / 'controller.json').is_file() else trainer.raw_model
size = model.clip.visual.image_size
size = size if isinstance(size, int) else size[0]
test = controller_data(replace(cfg, seed=cfg.seed + 1000, val_count=a.n_test), 'val', cfg.patch_size or size)  # unseen crops, seeds
items = [test[i] for i in range(len(test))]
images, true = torch.stack([it['lq'] for it in items]), [[r['name'] for r in it['records']] for it in items]
r = evaluate_recognition(model, images, true, batch_size=64)

c, z = r['controller'], r['zero_shot']
print(f"\ntrained {trainer.step} steps in {train_s / 60:.1f} min (batch {cfg.batch_size}); {len(items)} held-out images, "
      f"{sum(len(t) == 1 for t in true)} with 1 and {sum(len(t) == 2 for t in true)} with 2 degradations")
print(f"{'':24s}{'controller':>12s}{'zero-shot CLIP':>16s}")
rows = [('exact-set accuracy', c['exact'], z['exact'])]
rows += [(f"  with {k} degradation(s)", c['exact_by_count'][k][0], z['exact_by_count'][k][0]) for k in sorted(c['exact_by_count'])]
rows += [('top-1 in true set', r['controller_top1'], r['zero_shot_top1']), ('micro F1', c['micro_f1'], z['micro_f1']),
         ('macro F1', c['macro_f1'], z['macro_f1'])]
for name, x, y in rows: print(f"{name:24s}{x:12.3f}{y:16.3f}")
print('(the zero-shot baseline is told how many degradations each image has and predicts that many)')
print(f"\n{'type':18s}{'precision':>10s}{'recall':>8s}{'F1':>7s}{'zero-shot F1':>14s}{'images':>8s}")
for n, v in c['per_type'].items():
    print(f"{n:18s}{v['precision']:10.3f}{v['recall']:8.3f}{v['f1']:7.3f}{z['per_type'][n]['f1']:14.3f}{v['support']:8d}")
C, sup = cooccurrence(r['predicted'], true, model.config.names)
fig = plot_confusion(C, sup, model.config.names, f"controller, {trainer.step} steps: predicted per true type")
fig.savefig(Path(a.out) / 'confusion.png', dpi=120)
summary = {'steps': trainer.step, 'train_minutes': train_s / 60, 'n_test': len(items), 'model': a.model, 'pretrained': a.pretrained,
           'controller': {k: c[k] for k in ('exact', 'exact_by_count', 'micro_f1', 'macro_f1', 'per_type')}, 'controller_top1': r['controller_top1'],
           'zero_shot': {k: z[k] for k in ('exact', 'exact_by_count', 'micro_f1', 'macro_f1', 'per_type')}, 'zero_shot_top1': r['zero_shot_top1'],
           'total_minutes': (time.time() - t_start) / 60}
(Path(a.out) / 'results.json').write_text(json.dumps(summary, indent=1))
print(f"\nconfusion figure and results.json in {a.out}; total {summary['total_minutes']:.1f} min")

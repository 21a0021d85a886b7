"""Degradation recognition of a trained controller: exact-set accuracy on held-out images with 1-2 degradations drawn
from the 12 types, beside the zero-shot CLIP baseline (no controller, told each image's number of degradations).
After training, the decision thresholds are calibrated on validation images (never the test images) and both the
default threshold (0.5) and the calibrated ones are reported: per-type thresholds, and set decoding (the best set of
the trained sizes, by the head's likelihood plus a weighted caption similarity); the decoder that does better on the
validation images is the headline and is written into the run folder's controller.json. The accuracy is also given on
the test images whose every degradation is visible (removing it changes the image by PSNR below --visible_db): at
64 px a raindrop is a few pixels wide and a mild one can leave the image almost unchanged, which no recogniser can name.

Only what shows is asked for: by default the degradations are drawn with the sampler's visibility check
(--visible_draw_db 30: a step whose removal changes the image by PSNR >= 30 dB, at the scale the controller sees, is
redrawn stronger, then dropped with its label), for training, validation and test images alike; 0 turns it off.
A view at two scales: --view multiscale gives the controller the whole image resized to the encoder's size plus
--crops native-resolution windows (ControllerConfig.view; the crops are --patch_size px images, by default twice the
encoder's size). 10_controller_training's loss resizes every image to the encoder's size, so for that view this script
feeds the training step the controller's own preprocessing (native resolution) instead.

A statistics head (ControllerConfig.statistics, notebook 03): `--set statistics=N` fits one after the steps on N fresh
crops of `--set statistics_size=PX` (default 128), and it names the degradations; give the images that size
(--patch_size) and measure the draw-time visibility there (--visible_size). The head's accuracy grows with its crops
(bench/statistics_head.py) and CLIP's minutes do not change it, so the CPU size spends the time on crops:
    python bench/controller.py --threads 1 --minutes 5 --patch_size 128 --visible_size 128 --set statistics=30000
(0.835 exact-set accuracy on the 400 test images, 14.4 min on 2 cores: bench/results/controller_statistics_30k_cpu.md)

CPU, tiny CLIP trained from scratch (about --minutes of training; the step count is set from a short timing run):
    OMP_NUM_THREADS=2 python bench/controller.py
Full scale, pretrained CLIP weights on disk, on a GPU (DA-CLIP's lr and a large batch):
    python bench/controller.py --model ViT-B-32 --pretrained laion2b_s34b_b79k --device cuda --lr 3e-5 --batch_size 256
"""
import argparse, copy, json, resource, shutil, time
from dataclasses import replace
from pathlib import Path

import torch
from dataclasses import dataclass
import multideg.controller_training as controller_training
from multideg.degradations import visibility
from multideg.controller import clip_preprocess
from multideg.controller import calibrate_set_decoding, calibrate_thresholds, controller_from_config, evaluate_recognition, cooccurrence, plot_confusion, set_metrics
from multideg.inference import TINY_CLIP, load_controller
from multideg.learner import read_metrics
from multideg.controller_training import ControllerTrainConfig, controller_data, train_controller

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--model', default='tiny', help="'tiny' (a small CLIP built from scratch) or an open_clip model name")
p.add_argument('--pretrained', default=None, help='CLIP weights: an open_clip tag (on disk) or a file')
p.add_argument('--device', default='cpu')
p.add_argument('--minutes', type=float, default=9.0, help='training time to plan for (steps are set from a timing run)')
p.add_argument('--steps', type=int, default=None, help='training steps (overrides --minutes)')
p.add_argument('--batch_size', type=int, default=32)
p.add_argument('--lr', type=float, default=None, help='peak lr (default: ControllerTrainConfig, 1e-3 for the tiny CLIP)')
p.add_argument('--n_test', type=int, default=400, help='held-out test images')
p.add_argument('--n_val', type=int, default=512, help='validation images for calibrating the thresholds (0: no calibration)')
p.add_argument('--per_type', type=int, default=0, help='0: one global threshold (default; per-type thresholds overfit 512 validation images); 1: one per type')
p.add_argument('--vision', default=None, help="JSON merged into the tiny CLIP's vision_cfg, e.g. '{\"width\": 128}'")
p.add_argument('--eval_only', action='store_true', help='evaluate the trained run in --out/run instead of training')
p.add_argument('--set', action='append', default=[], metavar='KEY=JSON',
               help='any other ControllerTrainConfig field, e.g. --set degradation_weight=0 (repeatable)')
p.add_argument('--visible_db', type=float, default=30.0,
               help="a degradation counts as visible when removing it changes the image by PSNR below this (dB); the accuracy on the images "
                    "whose every degradation is visible is reported beside the accuracy on all")
p.add_argument('--visible_draw_db', type=float, default=30.0,
               help="draw only visible degradations (DegradationSampler.visible_db, dB; 0: off, every draw kept)")
p.add_argument('--visible_size', type=int, default=None,
               help="measure the draw-time visibility at this scale (px); default: the encoder's size when the view is "
                    "'whole' and the images are larger, else full size")
p.add_argument('--view', default='whole', choices=('whole', 'multiscale'), help='ControllerConfig.view')
p.add_argument('--crops', type=int, default=4, help="native crops of --view multiscale")
p.add_argument('--fuse', default='mean', choices=('mean', 'max'), help="how --view multiscale fuses the views")
p.add_argument('--patch_size', type=int, default=None,
               help="image size (px) the controller gets; default: the encoder's size, twice that for --view multiscale")
p.add_argument('--out', default='/tmp/multideg-bench-controller')
p.add_argument('--seed', type=int, default=0)
p.add_argument('--threads', type=int, default=None)
a = p.parse_args()
if a.threads: torch.set_num_threads(a.threads)
t_start = time.time()
def cpu_minutes():
    "CPU time of this process so far (user + system, minutes): on a shared machine, steadier than the wall clock."
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) / 60

extra = {}
for kv in a.set:
    k, _, v = kv.partition('=')
    try: extra[k] = json.loads(v)
    except json.JSONDecodeError: extra[k] = v
clip_model = a.model
if a.vision:
    if a.model != 'tiny': p.error('--vision changes the tiny CLIP only')
    clip_model = copy.deepcopy(TINY_CLIP); clip_model['vision_cfg'].update(json.loads(a.vision))
@dataclass
class BenchConfig(ControllerTrainConfig):
    "The run's config, with the draw-time visibility check and the controller's view (not fields of 10's config)."
    visible_db: float | None = None
    visible_size: int | None = None
    view: str = 'whole'
    crops: int = 4
    fuse: str = 'mean'
    def sampler(self):
        return replace(super().sampler(), visible_db=self.visible_db, visible_size=self.visible_size)
    def controller_config(self):
        return replace(super().controller_config(), view=self.view, crops=self.crops, fuse=self.fuse)

base = BenchConfig(out=str(Path(a.out) / 'run'), model=clip_model, pretrained=a.pretrained, device=a.device,
                   batch_size=a.batch_size, seed=a.seed, log_every=50, tensorboard=False,
                   view=a.view, crops=a.crops, fuse=a.fuse, visible_db=a.visible_draw_db or None,
                   **({'lr': a.lr} if a.lr is not None else {}), **extra)
enc = controller_from_config(base.controller_config()).image_size   # fails at once when the CLIP weights are not on disk
patch = a.patch_size or base.patch_size or (2 * enc if a.view == 'multiscale' else enc)
vsize = a.visible_size or (enc if a.view == 'whole' and patch > enc else None)
base = replace(base, patch_size=patch, visible_size=vsize)
if a.view == 'multiscale':   # 10's loss resizes the images to the encoder's size: give the step the native ones
    def _native_loss(model, batch, *, raw, loss, size, mean_std):
        x, gt = raw.preprocess(batch['lq'].to(raw.device)), clip_preprocess(batch['gt'], size, mean_std)
        return loss(model(x, decode=False), raw.targets(batch['records'], clean=gt))
    controller_training._controller_loss = _native_loss
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {a.device}, model {a.model}"
      + (f" / {a.pretrained}" if a.pretrained else ' (random CLIP)') + (f", vision {a.vision}" if a.vision else '')
      + (f", {extra}" if extra else '') + f"; view {a.view}" + (f" ({a.crops} crops, {a.fuse})" if a.view == 'multiscale' else '')
      + f", images {patch} px, draw-time visibility check " + (f"{a.visible_draw_db:g} dB at {vsize or patch} px" if a.visible_draw_db else 'off'))

steps = a.steps or (base.steps if a.eval_only else None)
if steps is None:   # a short run of the same configuration gives the step rate
    probe = replace(base, out=str(Path(a.out) / 'probe'), steps=16, warmup=0, val_every=0, save_every=0, log_every=8, val_count=8,
                    statistics=0)
    shutil.rmtree(probe.out, ignore_errors=True)
    train_controller(probe)
    rate = read_metrics(probe.out, 'train')['steps_per_s'][-1][1]   # steps 9-16: without the first steps' set-up
    steps = max(100, int(rate * 60 * a.minutes * 0.9))   # 10 % for validation and checkpoints
    print(f"timing run: {rate:.2f} steps/s -> {steps} steps for {a.minutes} min")
cfg = replace(base, steps=steps, warmup=min(100, steps // 10), val_every=max(50, steps // 5), save_every=max(50, steps // 5),
              time_limit=1.5 * a.minutes if a.steps is None else None)
t0, cpu0 = time.time(), cpu_minutes()
if a.eval_only: trainer = None
else:
    shutil.rmtree(cfg.out, ignore_errors=True)
    trainer = train_controller(cfg)
train_s, train_cpu = time.time() - t0, cpu_minutes() - cpu0
steps_done = trainer.step if trainer else int(read_metrics(cfg.out, 'train')['loss'][-1][0])

model = load_controller(cfg.out, device=a.device) if (Path(cfg.out) / 'controller.json').is_file() else trainer.raw_model
model.config.thresholds, model.config.set_sizes, model.config.caption_weight = None, None, 0.0   # as trained (eval_only: again)
size = model.clip.visual.image_size
size = size if isinstance(size, int) else size[0]
def load(split_cfg):
    ds = controller_data(split_cfg, 'val', cfg.patch_size or size)
    items = [ds[i] for i in range(len(ds))]
    return torch.stack([it['lq'] for it in items]), [[r['name'] for r in it['records']] for it in items], items

images, true, test_items = load(replace(cfg, seed=cfg.seed + 1000, val_count=a.n_test))   # test: unseen crops, seeds, dead leaves
vis = [visibility(it['gt'], it['records']) for it in test_items]
visible = [max(v.values()) < a.visible_db for v in vis]   # every degradation of the image shows
results = {f'threshold {model.config.threshold}': evaluate_recognition(model, images, true, batch_size=64)}
decoder = {}
if a.n_val:   # calibrate on the validation split (the images the training validated on, and more), never on the test images
    t0 = time.time()
    val = load(replace(cfg, val_count=a.n_val))[:2]
    thresholds = calibrate_thresholds(model, *val, per_type=bool(a.per_type))
    model.config.thresholds = thresholds
    val_thr = evaluate_recognition(model, *val)['controller']['exact']
    results['thresholds'] = evaluate_recognition(model, images, true, batch_size=64)
    sizes = cfg.set_sizes()
    weight, val_set = calibrate_set_decoding(model, *val, sizes=sizes)
    model.config.set_sizes, model.config.caption_weight = sizes, weight
    results['set decoding'] = evaluate_recognition(model, images, true, batch_size=64)
    print(f"calibrated on {a.n_val} validation images in {time.time() - t0:.0f} s: thresholds " + ', '.join(f"{k} {v:.2f}" for k, v in thresholds.items())
          + f" (val exact {val_thr:.3f}); set decoding of sizes {sizes} with caption weight {weight} (val exact {val_set:.3f})")
    if val_thr > val_set: model.config.set_sizes, model.config.caption_weight = None, 0.0
    decoder = {'thresholds': thresholds, 'set_sizes': model.config.set_sizes, 'caption_weight': model.config.caption_weight,
               'val_exact_thresholds': val_thr, 'val_exact_set_decoding': val_set}
    results = {'calibrated (best on val)': results['set decoding' if model.config.set_sizes else 'thresholds'], **results}
    if (Path(cfg.out) / 'controller.safetensors').is_file(): model.config.save(Path(cfg.out) / 'controller.json')
r = next(iter(results.values()))

c, z = r['controller'], r['zero_shot']
print(f"\n{'trained' if trainer else 'evaluated a run of'} {steps_done} steps" + (f" in {train_s / 60:.1f} min" if trainer else '')
      + f" (batch {cfg.batch_size}); {len(images)} held-out images, "
      f"{sum(len(t) == 1 for t in true)} with 1 and {sum(len(t) == 2 for t in true)} with 2 degradations")
print(f"{'':24s}" + ''.join(f"{k:>26s}" for k in results) + f"{'zero-shot CLIP':>16s}")
rows = [('exact-set accuracy', 'exact', None)] + [(f"  with {k} degradation(s)", 'exact_by_count', k) for k in sorted(c['exact_by_count'])]
for name, key, k in rows + [('micro F1', 'micro_f1', None), ('macro F1', 'macro_f1', None)]:
    get = lambda m: m[key][k][0] if k else m[key]
    print(f"{name:24s}" + ''.join(f"{get(v['controller']):26.3f}" for v in results.values()) + f"{get(z):16.3f}")
def exact_on(pred, keep): return set_metrics([p for p, k in zip(pred, keep) if k], [t for t, k in zip(true, keep) if k], model.config.names)['exact'] if any(keep) else float('nan')
vis_summary = {'visible_db': a.visible_db, 'visible_share': sum(visible) / len(visible),
               'exact_visible': {name: exact_on(v['predicted'], visible) for name, v in results.items()},
               'zero_shot_exact_visible': exact_on(r['zero_shot_predicted'], visible),
               'hidden_by_type': {n: sum(1 for v in vis if n in v and v[n] >= a.visible_db) for n in model.config.names}}
print(f"{f'  on the visible ({sum(visible)})':24s}" + ''.join(f"{x:26.3f}" for x in vis_summary['exact_visible'].values()) + f"{vis_summary['zero_shot_exact_visible']:16.3f}")
print(f"{'top-1 in true set':24s}" + ''.join(f"{v['controller_top1']:26.3f}" for v in results.values()) + f"{r['zero_shot_top1']:16.3f}")
print(f"(visible: the {sum(visible)} of {len(visible)} test images in which removing any one of its degradations changes the image by PSNR below {a.visible_db:g} dB; "
      f"the others hold a degradation that barely shows: " + ', '.join(f"{n} {k}" for n, k in vis_summary['hidden_by_type'].items() if k) + ')')
print('(controller columns: the decoder chosen on validation images, per-type thresholds and set decoding calibrated on them, '
      'and the fixed default threshold; the zero-shot baseline is told how many degradations each image has and predicts that many)')
print(f"\n{'type':18s}{'precision':>10s}{'recall':>8s}{'F1':>7s}{'zero-shot F1':>14s}{'images':>8s}")
for n, v in c['per_type'].items():
    print(f"{n:18s}{v['precision']:10.3f}{v['recall']:8.3f}{v['f1']:7.3f}{z['per_type'][n]['f1']:14.3f}{v['support']:8d}")
C, sup = cooccurrence(r['predicted'], true, model.config.names)
fig = plot_confusion(C, sup, model.config.names, f"controller, {steps_done} steps: predicted per true type")
fig.savefig(Path(a.out) / 'confusion.png', dpi=120)
summary = {'steps': steps_done, 'train_minutes': train_s / 60 if trainer else None, 'train_cpu_minutes': train_cpu, 'n_test': len(images), 'model': a.model, 'pretrained': a.pretrained,
           'vision': a.vision, 'overrides': extra, 'view': a.view, 'crops': a.crops, 'fuse': a.fuse, 'patch_size': patch,
           'visible_draw_db': a.visible_draw_db, 'visible_size': vsize, 'decoder': decoder,
           'controller': {k: c[k] for k in ('exact', 'exact_by_count', 'micro_f1', 'macro_f1', 'per_type')}, 'controller_top1': r['controller_top1'],
           'decoders': {name: {k: v['controller'][k] for k in ('exact', 'exact_by_count', 'micro_f1', 'macro_f1')} for name, v in results.items()},
           'zero_shot': {k: z[k] for k in ('exact', 'exact_by_count', 'micro_f1', 'macro_f1', 'per_type')}, 'zero_shot_top1': r['zero_shot_top1'],
           'visibility': vis_summary, 'total_minutes': (time.time() - t_start) / 60, 'cpu_minutes': cpu_minutes()}
(Path(a.out) / 'results.json').write_text(json.dumps(summary, indent=1))
print(f"\nconfusion figure and results.json in {a.out}; total {summary['total_minutes']:.1f} min "
      f"({summary['cpu_minutes']:.1f} CPU-minutes of this process, {train_cpu:.1f} of them training)")

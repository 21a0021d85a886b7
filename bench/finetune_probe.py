"""A quick probe of a training change: fine-tune a finished run of the `default` recipe for a few steps with another
harm weight, over-exposed crops (`highlights`), grey ones (`grey`), a structural (1 - SSIM) term (`ssim`), a harm
term in SSIM (`ssim_harm`),
NAFNet's PSNR loss (`pixel_loss psnr`) or the harm term per image (`harm_scope image`), then measure it with
bench/probe_eval.py or bench/harm_by_photo.py. Cheaper than a retraining (1500 steps: about 12 minutes of one core)
and enough to see whether a change moves the harm.

    OMP_NUM_THREADS=1 python bench/finetune_probe.py runs/default /tmp/probe --harm 1 --highlights 0.25 --grey 0.2
    python bench/probe_eval.py /tmp/probe

The weights written are an EMA (0.99 every 10 steps, starting from the run's weights, of which about a fifth remain
after 1500 steps) of the fine-tuned ones; the controller is the run's. The loader has one worker.
"""
import argparse, copy, math, time
from dataclasses import replace
from pathlib import Path

import torch

from multideg.controller_training import controller_data
from multideg.data import make_loader
from multideg.inference import load_restorer, save_restorer
from multideg.restorer_training import PIXEL_LOSSES, RESTORATION_RECIPES, RestorationConfig, _restoration_loss

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('run', help='a finished run of the default recipe')
    ap.add_argument('out', help='where to write the fine-tuned restorer folder')
    ap.add_argument('--harm', type=float, default=1.0, help='harm weight (default: %(default)s)')
    ap.add_argument('--highlights', type=float, default=0.0, help='share of over-exposed crops (default: %(default)s)')
    ap.add_argument('--grey', type=float, default=0.0, help='share of crops made grey (default: %(default)s)')
    ap.add_argument('--ssim', type=float, default=0.0, help='weight of the 1 - SSIM term (default: %(default)s)')
    ap.add_argument('--ssim_harm', type=float, default=0.0,
                    help='weight of the SSIM harm term, local SSIM lost against the input (default: %(default)s)')
    ap.add_argument('--pixel_loss', choices=PIXEL_LOSSES, default='l1', help='(default: %(default)s)')
    ap.add_argument('--harm_scope', choices=('pixel', 'image'), default='pixel',
                    help='the harm terms (L1, SSIM) per pixel or per image (default: %(default)s)')
    ap.add_argument('--steps', type=int, default=1500)
    ap.add_argument('--lr', type=float, default=3e-4, help='peak lr of a cosine to 0 (default: %(default)s)')
    a = ap.parse_args()
    torch.manual_seed(0)
    parts = load_restorer(a.run)
    model = parts.backbone.train().requires_grad_(True)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    cfg = RestorationConfig(**dict(RESTORATION_RECIPES['default'], out=a.out, harm_weight=a.harm,
                                   highlights=a.highlights, grey=a.grey, ssim_weight=a.ssim,
                                   pixel_loss=a.pixel_loss, harm_scope=a.harm_scope, ssim_harm=a.ssim_harm))
    ds = controller_data(cfg, 'train', cfg.patch_size)
    ds.set_epoch(1000)                                   # crops and degradations the run did not train on
    loader = make_loader(ds, batch_size=cfg.batch_size, shuffle=True, seed=0, num_workers=1, drop_last=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=cfg.betas, weight_decay=0)
    step, t0, batches = 0, time.time(), iter(loader)
    while step < a.steps:
        try: b = next(batches)
        except StopIteration:                        # a new epoch: new crops and degradations
            ds.set_epoch(ds.epoch + 1); batches = iter(loader); b = next(batches)
        for g in opt.param_groups: g['lr'] = a.lr * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        loss = _restoration_loss(model, b, sde=None, controller=parts.controller, oracle=False, normalize=cfg.normalize,
                                 loss='x0', harm=a.harm, ssim_weight=a.ssim, pixel_loss=a.pixel_loss,
                                 harm_scope=a.harm_scope, ssim_harm=a.ssim_harm)
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
        step += 1
        if step % 10 == 0:
            with torch.no_grad():
                for e, p in zip(ema.parameters(), model.parameters()): e.lerp_(p, 0.01)
        if step % 100 == 0: print(f"step {step}  loss {loss.item():.4f}  {time.time() - t0:.0f} s", flush=True)
    save_restorer(replace(parts, backbone=ema), Path(a.out))
    print(f"fine-tuned restorer written to {a.out} ({(time.time() - t0) / 60:.1f} min)")

"""The paper's claims in miniature: does conditioning on the controller help restoration, what do the controller's
errors cost, and how few sampling steps suffice?

On the embedded data (clean crops of the sample photos and dead leaves with 1-2 of the 12 degradations), with the same
training budget (steps) for each: an unconditioned backbone against the extension's concat, DA-CLIP's prompt,
multi-token cross-attention and FiLM, each trained on the controller's predictions and on oracle (true-label)
embeddings; PSNR/SSIM on held-out crops by number of degradations. Then, for the best fusion, an IR-SDE U-Net and its
fast sampler at 5/10/20 steps against 100-step posterior sampling. Every run folder resumes, so an interrupted
benchmark picks up where it stopped.

CPU (about an hour on 2 quiet cores): the conditioning comparison uses the direct NAFNet backbone, the one that learns
in CPU minutes; the sampler comparison a tiny U-Net that predicts x0 (the official noise prediction does not learn in
that budget, see notebook 06):
    OMP_NUM_THREADS=2 python bench/restoration.py --controller RUN/controller
Paper scale on a GPU (a trained ViT-B-32 controller folder, the DA-CLIP U-Net, 256² crops, the official loss):
    python bench/restoration.py --controller RUN/controller --backbone unet --preset daclip --prediction noise --loss ml \
        --patch_size 256 --batch_size 16 --steps 100000 --lr 2e-4 --device cuda
"""
import argparse, json, time
from dataclasses import replace
from pathlib import Path

import torch
from multideg.metrics import psnr, ssim
from multideg.inference import controller_embeddings, load_controller, load_restorer, restore_tensor
from multideg.controller_training import ControllerTrainConfig, controller_data, train_controller
from multideg.restorer_training import RestorationConfig, train_restoration

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--out', default='/tmp/multideg-bench-restoration')
p.add_argument('--controller', default=None, help='a trained controller folder (default: train a tiny one for --controller_steps)')
p.add_argument('--controller_steps', type=int, default=1500)
p.add_argument('--fusions', default='none,concat,prompt,cross_attention,film')
p.add_argument('--no_oracle', action='store_true', help='skip the oracle-conditioned runs')
p.add_argument('--backbone', default='nafnet', choices=('nafnet', 'unet'), help='backbone of the conditioning comparison')
p.add_argument('--preset', default='small', help='its preset')
p.add_argument('--steps', type=int, default=1000, help='training steps of every restorer (the same budget for each)')
p.add_argument('--batch_size', type=int, default=16)
p.add_argument('--patch_size', type=int, default=64)
p.add_argument('--lr', type=float, default=1e-3)
p.add_argument('--prediction', default='x0', choices=('x0', 'noise'), help="what the U-Nets predict (the official: 'noise')")
p.add_argument('--loss', default='x0', choices=('ml', 'noise', 'x0'), help="the U-Nets' loss (the official: 'ml')")
p.add_argument('--sde_preset', default='tiny', help='U-Net preset of the sampler comparison (when --backbone is nafnet)')
p.add_argument('--sde_steps', type=int, default=1500, help='its training steps')
p.add_argument('--n_test', type=int, default=64, help='held-out test crops')
p.add_argument('--sampler', default='fast', help='sampler for the comparison of models')
p.add_argument('--sample_steps', type=int, default=10)
p.add_argument('--device', default='cpu')
p.add_argument('--seed', type=int, default=0)
a = p.parse_args()
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
t_start = time.time()
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {a.device}")

ctrl_dir = a.controller
if ctrl_dir is None:
    ccfg = ControllerTrainConfig(out=str(out / 'controller'), steps=a.controller_steps, device=a.device, seed=a.seed, tensorboard=False,
                                 log_every=250, val_every=a.controller_steps // 4, save_every=a.controller_steps // 4)
    t0 = time.time(); train_controller(ccfg)
    print(f"controller: {a.controller_steps} steps, {(time.time() - t0) / 60:.1f} min this call")
    ctrl_dir = ccfg.out
controller = load_controller(ctrl_dir, device=a.device)

base = RestorationConfig(controller=str(ctrl_dir), backbone=a.backbone, preset=a.preset, steps=a.steps, loss=a.loss,
                         sde={'prediction': a.prediction}, batch_size=a.batch_size, patch_size=a.patch_size,
                         lr=a.lr, device=a.device, seed=a.seed, tensorboard=False, log_every=100, val_every=a.steps // 3,
                         save_every=a.steps // 3, val_sampler=a.sampler, val_steps=a.sample_steps, val_count=32)
test = controller_data(replace(base, seed=a.seed + 1000, val_count=a.n_test), 'val', a.patch_size)   # unseen crops and seeds
items = [test[i] for i in range(len(test))]
lq, gt = torch.stack([it['lq'] for it in items]), torch.stack([it['gt'] for it in items])
true = [[r['name'] for r in it['records']] for it in items]
counts = torch.tensor([len(t) for t in true])
base_psnr = psnr(lq, gt)
print(f"{len(items)} held-out crops ({int((counts == 1).sum())} with 1, {int((counts == 2).sum())} with 2 degradations); "
      f"input PSNR {base_psnr.mean():.2f} dB")

def evaluate(parts, oracle: bool, sampler: str, steps: int, seed: int = 0, **sample_kw) -> dict:
    emb, _ = controller_embeddings(parts.controller, lq.to(a.device), true=true if oracle else None, normalize=parts.config.normalize)
    g = torch.Generator(a.device).manual_seed(seed)
    outs = []
    with torch.no_grad():
        for i in range(0, len(lq), 16):
            e = {k: v[i:i + 16] for k, v in emb.items()}
            outs.append(restore_tensor(parts.backbone, lq[i:i + 16].to(a.device), e, sde=parts.sde, sampler=sampler, steps=steps, generator=g,
                                      **sample_kw).cpu())
    x = torch.cat(outs)
    ps, ss = psnr(x, gt), ssim(x, gt)
    r = {'psnr': ps.mean().item(), 'ssim': ss.mean().item()}
    for k in (1, 2):
        m = counts == k
        if m.any(): r[f'psnr_{k}'], r[f'ssim_{k}'] = ps[m].mean().item(), ss[m].mean().item()
    return r

runs = [('none', False)] + [(f, o) for f in a.fusions.split(',') if f != 'none' for o in ((False,) if a.no_oracle else (False, True))]
results = json.loads((out / 'results.json').read_text()) if (out / 'results.json').is_file() else {}
for fusion, oracle in runs:
    if fusion not in a.fusions.split(','): continue
    name = f"{fusion}{'-oracle' if oracle else ''}"
    if name in results and (out / name / 'restorer.json').is_file():   # finished and evaluated by an earlier call
        continue
    t0 = time.time()
    train_restoration(replace(base, out=str(out / name), fusion=fusion, oracle=oracle))
    minutes = (time.time() - t0) / 60
    parts = load_restorer(out / name, device=a.device)
    r = evaluate(parts, oracle, a.sampler, a.sample_steps)
    if oracle is False and fusion != 'none':                            # the same model, told the truth at test time
        r['with_oracle_at_test'] = evaluate(parts, True, a.sampler, a.sample_steps)['psnr']
    r['train_minutes_this_call'] = minutes
    results[name] = r
    (out / 'results.json').write_text(json.dumps(results, indent=1))
    print(f"{name:24s} PSNR {r['psnr']:.2f} (1: {r.get('psnr_1', float('nan')):.2f}, 2: {r.get('psnr_2', float('nan')):.2f})  SSIM {r['ssim']:.3f}"
          f"  [{minutes:.1f} min]", flush=True)

print(f"\n{'model':24s}{'PSNR':>8s}{'1 deg':>8s}{'2 deg':>8s}{'SSIM':>8s}   (input: {base_psnr.mean():.2f} dB, "
      f"1: {base_psnr[counts == 1].mean():.2f}, 2: {base_psnr[counts == 2].mean():.2f})")
models = {k: v for k, v in results.items() if not k.startswith('_')}
for name, r in models.items():
    print(f"{name:24s}{r['psnr']:8.2f}{r.get('psnr_1', float('nan')):8.2f}{r.get('psnr_2', float('nan')):8.2f}{r['ssim']:8.3f}")
cond = {k: v for k, v in models.items() if k != 'none' and not k.endswith('-oracle')}
if 'none' in results and cond:
    best = max(cond, key=lambda k: cond[k]['psnr'])
    print(f"\nbest conditioned model (controller's predictions): {best}, {cond[best]['psnr'] - results['none']['psnr']:+.2f} dB "
          f"over the unconditioned {a.backbone} (target >= +0.3 dB)")
    if f"{best}-oracle" in results:
        print(f"predicted vs oracle conditioning (trained with each): {cond[best]['psnr'] - results[best + '-oracle']['psnr']:+.2f} dB (target within 0.1 dB)")
    print(f"same model, oracle embeddings at test time: {cond[best]['with_oracle_at_test'] - cond[best]['psnr']:+.2f} dB")
    sde_run = best
    if a.backbone != 'unet':   # the sampler comparison needs an IR-SDE model: a U-Net with the best fusion
        sde_run = f"sde-{best}"
        t0 = time.time()
        train_restoration(replace(base, out=str(out / sde_run), fusion=best, backbone='unet', preset=a.sde_preset, steps=a.sde_steps,
                                  val_every=a.sde_steps // 3, save_every=a.sde_steps // 3))
        print(f"{sde_run}: U-Net ({a.sde_preset}, prediction {a.prediction}, loss {a.loss}), {a.sde_steps} steps "
              f"[{(time.time() - t0) / 60:.1f} min this call]")
    parts = load_restorer(out / sde_run, device=a.device)
    samplers = results.get('_samplers', {}) if results.get('_samplers', {}).get('model') == sde_run else {}
    runs = [('posterior-100', 'posterior', 100, 0, {}), ('posterior-100-seed1', 'posterior', 100, 1, {})]
    runs += [(f'fast-{s}', 'fast', s, 0, {}) for s in (5, 10, 20)]
    runs += [('fast-10-order1', 'fast', 10, 0, dict(order=1)), ('fast-10-eta1', 'fast', 10, 0, dict(eta=1.0))]
    runs += [(f'posterior-{s}', 'posterior', s, 0, {}) for s in (10, 20)]
    for key, sampler, s, seed, kw in runs:
        if key not in samplers:
            samplers[key] = evaluate(parts, False, sampler, s, seed, **kw)
            results['_samplers'] = {'model': sde_run, **samplers}
            (out / 'results.json').write_text(json.dumps(results, indent=1))
        r, ref = samplers[key], samplers['posterior-100']
        print(f"{sde_run}: {key:20s} PSNR {r['psnr']:.2f} ({r['psnr'] - ref['psnr']:+.2f} dB against posterior-100)  SSIM {r['ssim']:.3f}", flush=True)
results['_meta'] = {**vars(a), 'n_test': len(items),
                    'input_psnr': base_psnr.mean().item(), 'total_minutes': (time.time() - t_start) / 60}
(out / 'results.json').write_text(json.dumps(results, indent=1))
print(f"\nresults.json in {out}; total {(time.time() - t_start) / 60:.1f} min")

"""Real-world ×4 super-resolution in miniature (issue 25): does the degradation prior (SRCLIP's fusion) help?

Held-out crops of the evaluation photos (never trained on), degraded by the Real-ESRGAN / SRCLIP second-order
pipeline (blur, resize, noise, JPEG, twice, then the ×s downscale; `SecondOrder(scale=s)`), restored by:
- bicubic: `upscale(lq, s)`, the baseline of every SR paper;
- DDPG and its deterministic variant IDPG: training-free SR (notebook 14) with an analytic prior, a stationary
  Gaussian whose power spectrum is measured on the training photos, and the ×s bicubic operator as the observation
  model (the real pipeline's blur, noise and JPEG are unknown to it);
- ours: a super-resolving NAFNet (`--recipe sr_x4`: pixel-shuffle head on the bicubic enlargement), trained for the
  same number of steps on the embedded data without fusion, with the SRCLIP token fusion and with FiLM, all three
  conditioned by the same controller trained on the same pipeline.
Metrics as the SR literature reports them: PSNR-Y and SSIM-Y with a border of s pixels cropped, and RGB PSNR.
Every training run resumes, so an interrupted benchmark picks up where it stopped.

An oracle prior (--oracle): the same network and loop with FiLM on the TRUE degradation parameters of each image
(`severity`: the blurs' sigmas and shapes, sinc cutoffs, resize factors, noise levels, JPEG qualities of every stage,
read from the pipeline's records; everything a severity estimator could tell but the blur angles and resize modes),
against the same network given another image's parameters (the same distribution, no information about this image).
What the oracle gains over its control estimates what a severity-aware prior (SRCLIP's fusion) can add here.

The other route (--sde_route STEPS): IR-SDE's SR setting, a tiny U-Net restoring the bicubic enlargement at the HR
size (it works at s² times the direct NAFNet's pixels, so it trains on smaller crops, --sde_patch), sampled with the
fast sampler; run it on its own: --fusions '' --no_ddpg --sde_route 800 (about 15 minutes on 2 cores).

On a CPU the degraded pairs are made by one loader worker while the main process trains (--num_workers 1 by default:
1.6x the steps per second of making them in the training process on 2 cores; the pairs are the same either way).

    OMP_NUM_THREADS=1 python bench/sr.py --out /tmp/multideg-bench-sr --oracle   (CPU size: about 30 minutes)
    python bench/sr.py --steps 50000 --controller_steps 20000 --device cuda     (longer, on a GPU)
"""
import argparse, json, math, time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from multideg.core import upscale
from multideg.data import SampleImages, item_generator
from multideg.degradations import SecondOrder
from multideg.metrics import psnr, ssim
from multideg.inference import controller_embeddings, load_restorer, restore_tensor
from multideg.restore import SelfEnsemble
from multideg.restorer_training import RESTORATION_RECIPES, RestorationConfig, train_restoration
from multideg import ddpg

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--out', default='/tmp/multideg-bench-sr')
p.add_argument('--scale', type=int, default=4, choices=(2, 4))
p.add_argument('--fusions', default='none,token,film', help='restorers to train (fusion names)')
p.add_argument('--steps', type=int, default=None, help="training steps of every restorer (default: the recipe's)")
p.add_argument('--controller_steps', type=int, default=None, help="the controller's (default: the recipe's)")
p.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE',
               help='other RestorationConfig settings of every restorer (JSON values), e.g. lr=2e-3 preset=\"tiny\"')
p.add_argument('--n_test', type=int, default=48, help='held-out test crops (spread over the evaluation photos)')
p.add_argument('--test_size', type=int, default=128, help='HR size of a test crop')
p.add_argument('--ddpg_steps', type=int, default=100)
p.add_argument('--sigma_y', type=float, default=0.05, help="DDPG's assumed noise level (the pipeline's is unknown)")
p.add_argument('--no_ddpg', action='store_true')
p.add_argument('--oracle', action='store_true',
               help='also train an oracle prior: FiLM on the true degradation parameters, and its control')
p.add_argument('--sde_route', type=int, default=0, metavar='STEPS',
               help="also train the IR-SDE route (a tiny U-Net at the HR size, mu = bicubic(LR), no fusion) for STEPS "
                    "steps (0: not)")
p.add_argument('--sde_patch', type=int, default=64, help='HR crop size of the IR-SDE route (it works at the HR size)')
p.add_argument('--sde_sample_steps', type=int, default=10, help="the IR-SDE route's sampling steps (fast sampler)")
p.add_argument('--ensemble', type=int, default=8, choices=(1, 2, 4, 8),
               help="also report each of our restorers with a K-fold self-ensemble (flips and rotations; 1: not)")
p.add_argument('--num_workers', type=int, default=None,
               help='loader workers making the pairs (default: 1 on a CPU, the library default on a GPU)')
p.add_argument('--device', default='cpu')
p.add_argument('--seed', type=int, default=0)
p.add_argument('--results', default=None, help='also write the table (markdown) to this file')
p.add_argument('--figure', default=None,
               help='write a figure of examples (PNG): LR, bicubic, the methods, ground truth')
a = p.parse_args()
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
s = a.scale
t_start = time.time()
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {a.device}, ×{s}")

# --- held-out test crops: HR crops of the evaluation photos, each degraded with its own seed ----------------------
photos = SampleImages('eval')
pipeline = SecondOrder(scale=s)
hr, lr, names, lr_records = [], [], [], []
for i in range(a.n_test):
    j = i % len(photos)
    x = photos[j]
    g = item_generator(a.seed, 'sr-test', photos.name(j), i)
    h, w = x.shape[-2:]
    y0 = int(torch.randint(0, h - a.test_size + 1, (), generator=g))
    x0 = int(torch.randint(0, w - a.test_size + 1, (), generator=g))
    crop = x[:, y0:y0 + a.test_size, x0:x0 + a.test_size]
    small, records = pipeline(crop[None], g)
    hr.append(crop); lr.append(small[0]); names.append(photos.name(j)); lr_records.append(records[0])
hr, lr = torch.stack(hr), torch.stack(lr)
print(f"{len(hr)} test crops {a.test_size}² → {lr.shape[-1]}² from {', '.join(dict.fromkeys(names))}")


def scores(x: torch.Tensor) -> dict:
    "Mean PSNR-Y / SSIM-Y (border s cropped) and RGB PSNR of `x` against the HR crops."
    return {'psnr_y': psnr(x, hr, crop_border=s, y_channel=True).mean().item(),
            'ssim_y': ssim(x, hr, crop_border=s, y_channel=True).mean().item(),
            'psnr': psnr(x, hr, crop_border=s).mean().item()}


BATCH = 8                 # test crops restored at once


@torch.no_grad()
def batched(restore) -> torch.Tensor:
    "All test crops restored `BATCH` at a time by `restore(lr_batch, batch_index)`."
    return torch.cat([restore(lr[i:i + BATCH], i // BATCH) for i in range(0, len(lr), BATCH)])


def n_params(parts) -> str:
    "A restorer's backbone's parameters, in millions."
    return f"{sum(p_.numel() for p_ in parts.backbone.parameters()) / 1e6:.2f}"


rows, images = {}, {}     # images: each method's outputs, for the figure
t0 = time.time()
images['bicubic'] = upscale(lr, s)
rows['bicubic'] = {**scores(images['bicubic']), 'note': '', 'seconds': time.time() - t0}

# --- DDPG with a spectrum measured on the training photos ---------------------------------------------------------
def photo_prior(size: int, n: int = 256) -> ddpg.GaussianMixturePrior:
    "A stationary Gaussian prior on the [-1, 1] scale: mean colour and power spectrum of random training crops."
    train = SampleImages('train')
    g = torch.Generator().manual_seed(a.seed)
    crops = []
    for k in range(n):
        x = train[k % len(train)]
        y0 = int(torch.randint(0, x.shape[-2] - size + 1, (), generator=g))
        x0 = int(torch.randint(0, x.shape[-1] - size + 1, (), generator=g))
        crops.append(x[:, y0:y0 + size, x0:x0 + size])
    c = torch.stack(crops).double() * 2 - 1
    mean = c.mean((0, 2, 3))
    spec = (torch.fft.fft2(c - mean[:, None, None], norm='ortho').abs() ** 2).mean(0)
    spec = (spec + torch.roll(spec.flip(-2, -1), (1, 1), (-2, -1))) / 2 + 1e-6     # exactly symmetric, positive
    return ddpg.GaussianMixturePrior(mean[None, :, None, None].expand(1, 3, size, size).float(), spec[None].float())


def shifted_bicubic_kernel(scale: int) -> torch.Tensor:
    ("The antialiased bicubic ×s downscaling kernel (a = -0.5) as `F.interpolate` samples (LR pixel j at HR "
     "j·s + (s-1)/2): on clean images the operator's output equals `F.interpolate(..., antialias=True)` to 1e-6.")
    def cubic(t):
        t = t.abs()
        return torch.where(t <= 1, 1.5 * t ** 3 - 2.5 * t ** 2 + 1,
                           torch.where(t < 2, -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2, torch.zeros_like(t)))
    r = 2 * scale + 2                                            # the kernel reaches (s-1)/2 + 2s pixels right
    d = torch.arange(-r, r + 1, dtype=torch.float64)            # offsets from LR pixel j's first HR pixel j·s
    k1 = cubic((d + 0.5 - scale / 2) / scale)
    k1 = (k1 / k1.sum()).flip(0)                                 # the operator convolves: weights at -offset
    return k1[:, None] * k1[None, :]


if not a.no_ddpg:
    prior = photo_prior(a.test_size)
    op = ddpg.FFTSuperResolution(shifted_bicubic_kernel(s), s)
    for method in ('ddpg', 'idpg'):   # DDPG samples the posterior; IDPG (deterministic) aims at its mean
        t0 = time.time()
        cfg = replace(ddpg.published_config('sr_bicubic', 0.05, steps=a.ddpg_steps), method=method,
                      **({'step_size_mode': 0} if method == 'idpg' else {}))   # as notebook 14 runs IDPG
        images[method.upper()] = batched(lambda x, j: ddpg.restore(
            prior.eps_model(), x, op, a.sigma_y, cfg, generator=torch.Generator().manual_seed(a.seed + j * BATCH)))
        rows[f'{method.upper()} (analytic photo prior)'] = {**scores(images[method.upper()]),
                                                           'seconds': time.time() - t0,
                                                           'note': f'{a.ddpg_steps} steps, no training'}

# --- ours: one controller, three restorers with the same budget ----------------------------------------------------
fusions = [f for f in a.fusions.split(',') if f]
recipe = RESTORATION_RECIPES[f'sr_x{s}']
workers = a.num_workers if a.num_workers is not None else 1 if torch.device(a.device).type == 'cpu' else None
base = RestorationConfig(**{**recipe, 'device': a.device, 'seed': a.seed, 'tensorboard': False,
                            'num_workers': workers})
if a.steps: base = replace(base, steps=a.steps, val_every=max(1, a.steps // 3), save_every=max(1, a.steps // 3))
if a.controller_steps: base = replace(base, controller_steps=a.controller_steps)
for kv in a.set:
    k, _, v = kv.partition('=')
    try: v = json.loads(v)
    except json.JSONDecodeError: pass              # a bare word: a string
    base = replace(base, **{k: v})
controller = base.controller        # a given controller folder (--set controller=...), else the first one trained
for fusion in fusions:
    cfg = replace(base, out=str(out / fusion), fusion=fusion, controller=controller)
    if fusion == 'none': cfg = replace(cfg, controller=None)
    t0 = time.time()
    train_restoration(cfg)
    minutes = (time.time() - t0) / 60
    if fusion != 'none' and controller is None and (out / fusion / 'controller' / 'controller.json').is_file():
        controller = str(out / fusion / 'controller')   # the next conditioned restorers share it
    parts = load_restorer(out / fusion)
    assert parts.config.scale == s, parts.config.scale
    t0 = time.time()
    embs = [controller_embeddings(parts.controller, lr[i:i + BATCH], normalize=parts.config.normalize)[0]
            for i in range(0, len(lr), BATCH)]                   # once: the single pass and the ensemble share them
    images[f'ours ({fusion})'] = batched(lambda x, j: restore_tensor(parts.backbone, x, embs[j], sde=parts.sde,
                                                                     scale=s))
    rows[f'ours, fusion {fusion}'] = {**scores(images[f'ours ({fusion})']), 'seconds': time.time() - t0,
                                      'note': f"{parts.config.backbone} {cfg.preset}, {n_params(parts)} M params, "
                                              f"{cfg.steps} steps, {minutes:.1f} min this call"}
    if a.ensemble > 1:            # the same restorer averaged over flips and rotations (Restorer(ensemble=K))
        t0 = time.time()
        net = SelfEnsemble(parts.backbone, a.ensemble)
        res = batched(lambda x, j: restore_tensor(net, x, embs[j], sde=parts.sde, scale=s))
        rows[f'ours, fusion {fusion}, self-ensemble ×{a.ensemble}'] = {
            **scores(res), 'seconds': time.time() - t0,
            'note': f"the row above averaged over {a.ensemble} flips and rotations of the input"}

# --- the other route: IR-SDE's SR setting (the U-Net restores the bicubic enlargement at the HR size) -------------
if a.sde_route:
    cfg = replace(base, out=str(out / 'sde_route'), backbone='unet', preset='tiny', backbone_options={}, fusion='none',
                  controller=None, sde={'prediction': 'x0'}, loss='x0', lr=1e-3, ema_beta=0.995,
                  patch_size=a.sde_patch, steps=a.sde_route, val_every=a.sde_route, save_every=max(1, a.sde_route // 3),
                  val_sampler='fast', val_steps=a.sde_sample_steps)
    t0 = time.time()
    train_restoration(cfg)
    minutes = (time.time() - t0) / 60
    parts = load_restorer(out / 'sde_route')
    assert parts.config.scale == s and parts.sde is not None
    t0 = time.time()
    g = torch.Generator().manual_seed(a.seed)
    res = batched(lambda x, j: restore_tensor(parts.backbone, x, {}, sde=parts.sde, sampler='fast',
                                              steps=a.sde_sample_steps, generator=g, scale=s))
    images['IR-SDE route'] = res
    rows['IR-SDE route, no fusion'] = {
        **scores(res), 'seconds': time.time() - t0,
        'note': f"unet tiny, {n_params(parts)} M params, {cfg.steps} steps of {cfg.patch_size}² HR crops, "
                f"{a.sde_sample_steps} fast-sampler steps; {minutes:.1f} min this call, restoring "
                f"{(time.time() - t0) / 60:.1f} min"}

# --- an oracle prior: FiLM on the true degradation parameters vs another image's -----------------------------
SEVERITY = 24          # 9 slots for each of the two stages, 3 for the last one, padded


def severity(records: list) -> torch.Tensor:
    ("The true degradation parameters of one image (its second-order plan's records), each roughly in [0, 1]: for "
     "stages 1 and 2 the blur's mean sigma, anisotropy and shape (beta), a sinc's cutoff, the resize factor (up or "
     "down), the Gaussian sigma, the Poisson scale, grey noise, the JPEG quality; for the last stage the sinc's "
     "cutoff, the JPEG quality and their order. Left out: the blur angle and the resize modes.")
    v = torch.zeros(SEVERITY)
    last = [r['op'] for r in records if r['stage'] == 3 and r['op'] in ('sinc', 'jpeg')]
    if last: v[20] = float(last[0] == 'sinc')                              # the last stage's order
    for r in records:
        if r['stage'] == 3:                                                # the final ×s downscale is the same for all
            if r['op'] == 'sinc': v[18] = r['omega_c'] / math.pi
            elif r['op'] == 'jpeg': v[19] = r['quality'] / 100
            continue
        o = 9 * (r['stage'] - 1)
        if r['op'] == 'blur':
            v[o] = (r['sigma_x'] + r['sigma_y']) / 6
            v[o + 1] = abs(r['sigma_x'] - r['sigma_y']) / 3
            v[o + 2] = r['beta'] / 4
        elif r['op'] == 'sinc': v[o + 3] = r['omega_c'] / math.pi
        elif r['op'] == 'resize': v[o + 4] = r['scale'] / 1.5
        elif r['op'] == 'noise':
            if r['kind'] == 'gaussian': v[o + 5] = r['sigma'] / 30
            else: v[o + 6] = r['scale'] / 3
            v[o + 7] = float(r['gray'])
        elif r['op'] == 'jpeg': v[o + 8] = r['quality'] / 100
    return v


def severities(records: list, control: bool) -> torch.Tensor:
    "The batch's parameter vectors; the control gets the next image's (same distribution, nothing about this one)."
    v = torch.stack([severity(r) for r in records])
    return v.roll(1, 0) if control else v


def oracle_loss(model, batch, *, control: bool):
    deg = severities(batch['records'], control).to(batch['lq'].device)
    return F.l1_loss(model(batch['lq'], degradation=deg).float(), batch['gt'])


if a.oracle:
    from functools import partial
    from multideg.controller_training import controller_data, data_callbacks
    from multideg.fusion import FiLMConfig
    from multideg.inference import build_backbone
    from multideg.core import read_weights
    from multideg.learner import Learner, final_weights, seed_stage, standard_callbacks
    ocfg = replace(base, fusion=FiLMConfig(embed_dim=SEVERITY, inputs=('degradation',)), controller=None)
    for control in (False, True):
        name = 'control' if control else 'oracle'
        cfg = replace(ocfg, out=str(out / name))
        seed_stage(cfg.seed, 'init')
        model = build_backbone(cfg.restorer_config(SEVERITY))
        train_ds = controller_data(cfg, 'train', cfg.patch_size)
        t0 = time.time()
        learn = Learner(model, partial(oracle_loss, control=control), train_ds, cfg,
                        standard_callbacks(cfg) + data_callbacks(cfg, train_ds))
        learn.resume_and_fit()
        minutes = (time.time() - t0) / 60
        model.load_state_dict(read_weights(final_weights(learn)))
        model.eval()
        t0 = time.time()
        test_sev = severities(lr_records, control)       # the control: the next test crop's, over the whole set
        res = batched(lambda x, j: model(x, degradation=test_sev[j * BATCH:(j + 1) * BATCH]).clamp(0, 1))
        what = "FiLM on each image's true degradation parameters" if not control else \
            "FiLM on another image's parameters"
        rows[f'oracle prior: {name}'] = {**scores(res), 'seconds': time.time() - t0,
                                    'note': f"{what}; {cfg.preset}, {cfg.steps} steps, {minutes:.1f} min this call"}

# --- the table ----------------------------------------------------------------------------------------------------
lines = [f"×{s} real-world SR, {len(hr)} held-out crops {a.test_size}² of {', '.join(dict.fromkeys(names))} "
         f"(seed {a.seed}); PSNR-Y / SSIM-Y with a {s}-pixel border cropped", '',
         '| method | PSNR-Y (dB) | SSIM-Y | PSNR RGB (dB) | Δ PSNR-Y vs bicubic | notes |',
         '|---|---:|---:|---:|---:|---|']
b = rows['bicubic']['psnr_y']
for name, r in rows.items():
    lines.append(f"| {name} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} | {r['psnr']:.2f} | {r['psnr_y'] - b:+.2f} | "
                 f"{r['note']} |")
if 'ours, fusion none' in rows:
    for f in fusions:
        if f != 'none' and f'ours, fusion {f}' in rows:
            d = rows[f'ours, fusion {f}']['psnr_y'] - rows['ours, fusion none']['psnr_y']
            lines.append(f"\nfusion {f} vs none: {d:+.2f} dB PSNR-Y")
if 'oracle prior: oracle' in rows and 'oracle prior: control' in rows:
    d = rows['oracle prior: oracle']['psnr_y'] - rows['oracle prior: control']['psnr_y']
    lines.append(f"\noracle prior (true parameters vs another image's): {d:+.2f} dB PSNR-Y")
lines.append(f"\ntotal {(time.time() - t_start) / 60:.1f} min")
text = '\n'.join(lines)
print(text)
(out / 'results.json').write_text(json.dumps(rows, indent=1))
if a.results: Path(a.results).write_text(text + '\n')

if a.figure:   # one crop of each photo: LR (nearest-enlarged), every method, the ground truth; PSNR-Y under each
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    picks = [names.index(n) for n in dict.fromkeys(names)]
    cols = [('LR (nearest ×%d)' % s, F.interpolate(lr, scale_factor=s, mode='nearest'))] + list(images.items()) \
        + [('ground truth', hr)]
    fig, axs = plt.subplots(len(picks), len(cols), figsize=(1.6 * len(cols), 1.75 * len(picks)), squeeze=False)
    for r, i in enumerate(picks):
        for c, (name, ims) in enumerate(cols):
            ax = axs[r, c]
            ax.imshow(ims[i].clamp(0, 1).permute(1, 2, 0).numpy()); ax.set_xticks([]); ax.set_yticks([])
            q = '' if name == 'ground truth' else \
                f"\n{psnr(ims[i:i + 1], hr[i:i + 1], crop_border=s, y_channel=True).item():.2f} dB"
            ax.set_title(name + q, fontsize=7)
    fig.suptitle(f"real-world ×{s} SR of held-out crops (PSNR-Y)", fontsize=9)
    plt.tight_layout()
    fig.savefig(a.figure, dpi=72)
    print(f"figure: {a.figure}")


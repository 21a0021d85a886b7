"""Does a restorer trained on the mix of degradation types learn what one type alone teaches it? Train the `default`
recipe's restorer (NAFNet-small, 16 crops of 64 px, its harm term and highlights) for a few hundred steps with some
settings changed, then measure what it does to Gaussian noise (sigma 10, 25, 50 on the 0-255 scale) on a held-out
256-px crop (astronaut, never trained on) and to a dark version (x 0.3) of that crop.

    OMP_NUM_THREADS=1 python bench/type_interference.py /tmp/mix_l1 --set fusion=none
    OMP_NUM_THREADS=1 python bench/type_interference.py /tmp/noise_only --steps 400 \\
        --set fusion=none highlights=0 names=noisy 'counts={"1": 1}'

A conditioned restorer (fusion other than none) is measured with its controller's embeddings of the image, or with
the text embeddings of `--true` names (an oracle run). Prints one line per measurement; the same seed, the same figures.
"""
import argparse, contextlib, io, json, time

import torch

from multideg.data import sample_images
from multideg.inference import controller_embeddings, load_restorer
from multideg.metrics import psnr
from multideg.restorer_training import RESTORATION_RECIPES, RestorationConfig, train_restoration


def restore(parts, y: torch.Tensor, true) -> torch.Tensor:
    emb = {}
    if parts.controller is not None:
        emb, _ = controller_embeddings(parts.controller, y, true=true and [true], normalize=parts.config.normalize)
    with torch.no_grad(): return parts.backbone(y, **emb).clamp(0, 1)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('out', help='the run folder (resumed if it holds a finished run)')
    ap.add_argument('--steps', type=int, default=800)
    ap.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE', help="settings changed in the recipe")
    ap.add_argument('--true', nargs='*', default=None, help='measure with these names as the embeddings (oracle)')
    a = ap.parse_args()
    cfg = RestorationConfig(**dict(RESTORATION_RECIPES['default'], out=a.out, steps=a.steps, val_every=a.steps,
                                   save_every=a.steps)).updated(*a.set, source='--set')
    t = time.time()
    with contextlib.redirect_stdout(io.StringIO()): train_restoration(cfg)
    minutes = (time.time() - t) / 60
    parts = load_restorer(a.out)
    x = sample_images('eval')[0].load()[:, :256, :256][None]
    torch.manual_seed(0)
    rows = []
    for sigma in (10, 25, 50):
        y = (x + sigma / 255 * torch.randn_like(x)).clamp(0, 1)
        rows.append((f'noise {sigma}', psnr(y, x).item(), psnr(restore(parts, y, a.true), x).item()))
    y = x * 0.3
    rows.append(('dark x0.3', psnr(y, x).item(), psnr(restore(parts, y, a.true), x).item()))
    print(f"{a.out}: {a.steps} steps, {minutes:.1f} min; settings {json.dumps(a.set)}"
          + (f"; embeddings of {a.true}" if a.true else ''))
    for name, before, after in rows:
        print(f"  {name:10s} {before:6.2f} -> {after:6.2f} dB ({after - before:+.2f})")

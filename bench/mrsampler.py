"""MR Sampler against the `fast` and posterior samplers on a trained restorer: PSNR to the ground truth and time.

Restores held-out synthetic pairs (`SyntheticEval`: the held-out sample photos, centre crops, degraded with the
restorer's training mixture when its run folder says it, else the 'mixed' preset) through the public `Restorer`,
once per sampler and NFE, and writes a table (markdown) with the machine it ran on. The goal of issue 22: MR Sampler
at 5 NFE within 0.1 dB of 100 posterior steps (the official sampler).

    # a small restorer (tiny U-Net, x0 prediction, no conditioning; 16 min on one shared CPU thread), then the benchmark
    multideg train --out /tmp/mrs-run --backbone unet --preset tiny --fusion none --steps 750 --val_every 0
    OMP_NUM_THREADS=1 python bench/mrsampler.py --model /tmp/mrs-run --out bench/results/mrsampler_cpu.md

Every run uses the same seed per image, so stochastic samplers differ only by their own draws; posterior-100 is run
with two seeds to show how much one seed moves the mean PSNR. Times are wall and CPU seconds per image (the CPU
time is the steadier figure on a shared machine).

Measured (December 2026, CPU, 1 thread, 32 held-out 64-px pairs, that restorer; bench/results/mrsampler_cpu.md):
posterior-100 13.97 dB (4.9 s CPU per image); mrs (ODE, data, order 2) at 5 / 10 / 20 NFE 13.63 / 13.60 / 13.80 dB;
mrs-ode-data-1 14.81 / 14.36 / 14.14; fast 14.28 / 13.36 / 13.65 (0.24 s CPU per image at 5 NFE). The restorer is
below its input (19.20 dB), so these rank samplers on an untrained network, not the paper's claim.
"""
import argparse, json, os, platform, statistics, time
from datetime import date
from pathlib import Path

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--model', default='/tmp/mrs-run', help='a restorer folder (restorer.json; a U-Net + IR-SDE restorer)')
p.add_argument('--n', type=int, default=32, help='held-out pairs')
p.add_argument('--patch', type=int, default=64, help='centre crop of each degraded photo (px)')
p.add_argument('--seed', type=int, default=0, help='seed of the degradations and of the samplers')
p.add_argument('--nfe', type=int, nargs='*', default=[5, 10, 20], help='network evaluations for the few-step samplers')
p.add_argument('--samplers', nargs='*', default=['mrs', 'mrs-ode-data-1', 'mrs-ode-data-3', 'mrs-sde-data-2', 'fast'],
               help='few-step samplers compared at each NFE (besides posterior at 100 and at the same NFE)')
p.add_argument('--threads', type=int, default=1)
p.add_argument('--out', default=None, help='markdown file for the table (default: print only)')
a = p.parse_args()

import torch
from multideg.degradations import DegradationSampler
from multideg.evaluate import SyntheticEval
from multideg.metrics import psnr
from multideg.restore import Restorer

torch.set_num_threads(a.threads)
folder = Path(a.model).expanduser()
r = Restorer.from_folder(folder, device='cpu', tile=None, seed=a.seed)
if r.sde is None: raise SystemExit(f"--model: {folder} is a one-pass restorer ({r.config.backbone}); it has no sampler")
run_cfg = json.loads((folder / 'config.json').read_text()) if (folder / 'config.json').is_file() else {}
if run_cfg.get('counts') and run_cfg.get('pipeline', 'types') == 'types':     # the restorer's own training mixture
    from multideg.restorer_training import RestorationConfig
    names = RestorationConfig.from_dict(run_cfg).data_names()      # names: null means every type of the pipeline
    degr = DegradationSampler(counts={int(k): v for k, v in run_cfg['counts'].items()}, weights={n: 1.0 for n in names})
    preset = f"its training mixture ({len(names)} types, counts {run_cfg['counts']})"
else:
    degr, preset = 'mixed', "the 'mixed' preset"
data = SyntheticEval(degr, n=a.n, patch_size=a.patch, seed=a.seed)
pairs = [data[i] for i in range(len(data))]
gt = torch.stack([it['gt'] for it in pairs])
inp = psnr(torch.stack([it['lq'] for it in pairs]), gt).mean().item()

def run(sampler: str, steps: int, seed: int) -> dict:
    "Restore every pair; mean PSNR and per-image wall and CPU seconds."
    outs, w0, c0 = [], time.perf_counter(), time.process_time()
    for it in pairs: outs.append(r.restore(it['lq'], sampler=sampler, steps=steps, seed=seed).image)
    wall, cpu = (time.perf_counter() - w0) / len(pairs), (time.process_time() - c0) / len(pairs)
    return {'sampler': sampler, 'nfe': steps, 'seed': seed, 'psnr': psnr(torch.stack(outs), gt).mean().item(),
            'wall': wall, 'cpu': cpu}

cases = [('posterior', 100, a.seed), ('posterior', 100, a.seed + 1)]
cases += [(s, n, a.seed) for n in a.nfe for s in [*a.samplers, 'posterior']]
rows = []
for s, n, seed in cases:
    rows.append(run(s, n, seed))
    x = rows[-1]
    print(f"{s:16s} NFE {n:3d} seed {seed}: PSNR {x['psnr']:.3f} dB  {x['wall']:.3f} s/image wall, "
          f"{x['cpu']:.3f} s CPU", flush=True)

ref = rows[0]['psnr']
with open('/proc/cpuinfo') as f:
    cpu_name = next((l.split(':', 1)[1].strip() for l in f if l.startswith('model name')), platform.processor())
lines = [f"# MR Sampler benchmark ({date.today().isoformat()})", '',
         f"Machine: CPU only ({cpu_name}, {os.cpu_count()} cores visible, shared with other jobs), torch "
         f"{torch.__version__}, {torch.get_num_threads()} thread(s).",
         f"Restorer: `{folder}` — {r.config.backbone} `{run_cfg.get('preset', '?')}`, fusion "
         f"{run_cfg.get('fusion', '?')}, SDE {r.sde.config.to_dict()}, {run_cfg.get('steps', '?')} training steps "
         f"(loss {run_cfg.get('loss', '?')}).",
         f"Data: {len(pairs)} held-out pairs — {data.description}; degradations from {preset}. "
         f"Input PSNR {inp:.3f} dB.",
         f"Through `Restorer.restore` one image at a time, seed {a.seed} per image (posterior-100 also with seed "
         f"{a.seed + 1}). `mrs` = MR Sampler ODE, data prediction, order 2 (the paper's DA-CLIP setting).", '',
         '| sampler | NFE | seed | PSNR (dB) | vs posterior-100 (dB) | s/image (wall) | s/image (CPU) |',
         '| --- | --- | --- | --- | --- | --- | --- |']
for x in rows:
    lines.append(f"| {x['sampler']} | {x['nfe']} | {x['seed']} | {x['psnr']:.3f} | {x['psnr'] - ref:+.3f} | "
                 f"{x['wall']:.3f} | {x['cpu']:.3f} |")
seeds = [x['psnr'] for x in rows[:2]]
mrs5 = next((x for x in rows if x['sampler'] == 'mrs' and x['nfe'] == 5), None)
lines += ['', f"Posterior-100 over two seeds: {statistics.mean(seeds):.3f} dB (the seeds differ by "
              f"{abs(seeds[0] - seeds[1]):.3f} dB)."]
if mrs5 is not None:
    d = mrs5['psnr'] - statistics.mean(seeds)
    lines.append(f"Goal (MR Sampler at 5 NFE within 0.1 dB of posterior-100): {d:+.3f} dB — "
                 f"{'met' if d >= -0.1 else 'not met'}; "
                 f"{rows[0]['cpu'] / mrs5['cpu']:.1f}× less CPU time.")
text = '\n'.join(lines) + '\n'
print(text)
if a.out: Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(text)

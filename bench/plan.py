"""Training plans: what each recipe needs on a card (estimated on fake tensors), and the plan against a real CPU step.

Part 1 prints, for every recipe of `multideg train-controller` and `multideg train` on the cards it is meant for, the
plan of one optimiser step (`plan_controller` / `plan_restoration`: the real model, optimiser and loss run on fake
tensors, so nothing is allocated): peak memory by kind, FLOPs per step, and the items per second the data must deliver
to keep the card at 40% of its peak. These GPU figures are ESTIMATES (no GPU ran them).

Part 2 checks the estimate against the CPU: for small configurations, the plan's peak against (a) the peak of the same
two steps run for real with `LiveBytes` following the real tensors and (b) the process's peak resident memory over the
step (each case in a fresh process, from /proc/self/statm sampled every 0.5 ms, minus the level before the step).

    OMP_NUM_THREADS=1 python bench/plan.py                 # both parts, writes bench/results/plan_cpu.md
    OMP_NUM_THREADS=1 python bench/plan.py --part 2
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--part', type=int, choices=(1, 2), default=None, help='only this part (default: both)')
p.add_argument('--out', default='bench/results/plan_cpu.md', help='Markdown summary (default: %(default)s)')
p.add_argument('--case', default=None, help=argparse.SUPPRESS)   # internal: one part-2 case in this process
a = p.parse_args()

CASES = {   # part 2: small configurations, measured in fresh processes
    'convnet b8 96²': dict(kind='conv', batch=8, size=96),
    'tiny U-Net b4 64²': dict(kind='restorer', batch=4, size=64),
    'tiny U-Net b8 64²': dict(kind='restorer', batch=8, size=64),
    'tiny U-Net b4 64², checkpointed': dict(kind='restorer', batch=4, size=64, checkpoint=True),
    'tiny U-Net b8 64², checkpointed': dict(kind='restorer', batch=8, size=64, checkpoint=True),
}


def conv_case(batch, size):
    import torch, torch.nn as nn
    build = lambda: nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.GELU(), nn.Conv2d(64, 64, 3, padding=1), nn.GELU(),
                                  nn.Conv2d(64, 3, 3, padding=1))
    make = lambda: {'x': torch.rand(batch, 3, size, size)}
    return build, make, lambda m, b: (m(b['x']) - b['x']).abs().mean()


def restorer_case(batch, size, checkpoint=False):
    import torch
    from multideg.restorer_training import RestorationConfig, _restoration_loss
    from multideg.inference import build_backbone, build_sde
    cfg = RestorationConfig(batch_size=batch, patch_size=size, fusion='none', device='cpu',
                            backbone_options={'checkpoint': checkpoint})
    rcfg = cfg.restorer_config(64)
    sde = build_sde(rcfg)
    make = lambda: {'lq': torch.rand(batch, 3, size, size), 'gt': torch.rand(batch, 3, size, size),
                    'records': [[] for _ in range(batch)]}
    loss = lambda m, b: _restoration_loss(m, b, sde=sde, controller=None, oracle=False, normalize=True, loss=cfg.loss)
    return (lambda: build_backbone(rcfg)), make, loss


def run_case(name):
    "Plan, LiveBytes peak and RSS peak of one case, in this (fresh) process; prints one JSON line."
    import threading, torch
    from multideg.learner import plan_training, measure_training, _two_steps
    torch.set_num_threads(1)
    c = CASES[name]
    build, make, loss = (conv_case(c['batch'], c['size']) if c['kind'] == 'conv'
                         else restorer_case(c['batch'], c['size'], c.get('checkpoint', False)))
    plan = plan_training(build, make, loss)
    tracked = measure_training(build, make, loss)
    page = os.sysconf('SC_PAGE_SIZE')
    rss = lambda: int(open('/proc/self/statm').read().split()[1]) * page
    torch.manual_seed(0)
    model = build(); opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad]); batch = make()
    base, peak, stop = rss(), [0], [False]
    def watch():
        while not stop[0]: peak[0] = max(peak[0], rss()); time.sleep(0.0005)
    th = threading.Thread(target=watch); th.start()
    _two_steps(model, opt, batch, loss, 1, None)
    stop[0] = True; th.join()
    print(json.dumps({'case': name, 'plan': plan.peak, 'tracked': tracked, 'rss': peak[0] - base}))


if a.case:
    run_case(a.case); sys.exit(0)

lines = ['# Training plans', '', f'Made {time.strftime("%Y-%m-%d %H:%M")} by `bench/plan.py` on this CPU machine '
         f'(load average {os.getloadavg()[0]:.1f}). GPU figures are estimates from fake tensors: no GPU ran them.', '']
if a.part in (None, 1):
    from multideg.learner import CARDS
    from multideg.controller_training import CONTROLLER_RECIPES, ControllerTrainConfig, plan_controller
    from multideg.restorer_training import RESTORATION_RECIPES, RestorationConfig, plan_restoration_run
    lines += ['## 1. Recipes on their cards (estimated)', '',
              'A restorer run switches activation checkpointing on where only that fits (`plan_restoration_run`); '
              'the controller has no checkpointing.', '',
              '| stage | recipe | card | precision | batch | checkpointing | peak (GiB) | of which activations | '
              'TFLOP/step | items/s at 40% | fits |',
              '|---|---|---|---|---|---|---|---|---|---|---|']
    jobs = [('controller', r, c) for r, c in (('daclip', 'a100'), ('daclip', 't4'), ('t4', 't4'))] + \
           [('restorer', r, c) for r, c in (('daclip', 'a100'), ('daclip', 't4'), ('t4', 't4'), ('t4', 'a100'))]
    for stage, recipe, card in jobs:
        t = time.time()
        if stage == 'controller':
            plan, ck = plan_controller(ControllerTrainConfig(**dict(CONTROLLER_RECIPES[recipe], source='embedded')),
                                       CARDS[card]), 'no'
        else:
            run_cfg, plan = plan_restoration_run(RestorationConfig(**dict(RESTORATION_RECIPES[recipe],
                                                                          source='embedded')), CARDS[card])
            ck = 'switched on' if run_cfg.backbone_options.get('checkpoint') else 'no'
        k = CARDS[card]
        row = (f"| {stage} | {recipe} | {card} | {plan.precision} | {plan.batch_size} × {plan.accumulate} | {ck} | "
               f"{plan.peak / 2**30:.2f} | {plan.parts['activations'] / 2**30:.2f} | {plan.flops / 1e12:.2f} | "
               f"{plan.items_per_second(k.tflops * 1e12):,.0f} | {'yes' if plan.fits(k.memory) else 'NO'} |")
        print(row, f"({time.time() - t:.0f} s to plan)", flush=True); lines.append(row)
    lines.append('')
if a.part in (None, 2):
    lines += ['## 2. The plan against a real CPU step', '',
              '| case | plan (MiB) | real tensors, LiveBytes (MiB) | plan / real | process RSS rise (MiB) | plan / RSS |',
              '|---|---|---|---|---|---|']
    env = dict(os.environ, OMP_NUM_THREADS='1', MALLOC_MMAP_THRESHOLD_='131072')
    for name in CASES:
        r = subprocess.run([sys.executable, __file__, '--case', name], capture_output=True, text=True, env=env)
        if r.returncode: print(r.stderr[-2000:]); continue
        d = json.loads(r.stdout.strip().splitlines()[-1])
        mib = lambda b: b / 2**20
        row = (f"| {name} | {mib(d['plan']):.1f} | {mib(d['tracked']):.1f} | {d['plan'] / d['tracked']:.3f} | "
               f"{mib(d['rss']):.1f} | {d['plan'] / d['rss']:.2f} |")
        print(row, flush=True); lines.append(row)
    lines += ['', 'The plan follows the tensors a step creates; the process also holds what no tensor accounts for '
              '(the kernels\' scratch buffers, the allocator\'s slack), which is why `TrainingPlan.fits` keeps 15% free.']
Path(a.out).parent.mkdir(parents=True, exist_ok=True)
Path(a.out).write_text('\n'.join(lines) + '\n')
print('written', a.out)

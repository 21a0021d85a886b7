"""A GPU check of the training stack, prepared for the day a GPU is lent (issue 20, part 7).

On one CUDA GPU, in under 8 minutes (`--budget`, default 450 s), each phase time-boxed and recorded on its own (a
failure in one phase is written down and the others still run):
  recipes    each training recipe at its batch size (controller t4/daclip with a ViT-B-32 built without pretrained
             weights, restorer t4/daclip): step time, samples/s, the fraction of the time spent waiting in
             `next(stream)`, peak memory (`torch.cuda.max_memory_allocated`) against the plan (`plan_controller` /
             `plan_restoration` for `visible_card()`, computed in worker processes while the first phases run)
  loss       a few hundred mixed-precision steps (bf16 where the card has it, fp16) of a small restorer: the loss falls
  resume     a run stopped at step k (`until=`), resumed by a new learner, against an uninterrupted run (and a second
             uninterrupted run: the run-to-run floor of the card's non-deterministic kernels)
  sync       `torch.cuda.set_sync_debug_mode('error')` on the steps that do not log: no host sync expected; the
             offending operations are listed (a 'warn' rerun finds them all)
  synthesis  on-device synthesis (`degrade_batch` on the GPU) in images/s at 256², overall and per degradation, and
             the GPU JPEG against Pillow's
  placement  the recipes' loss forward passes on fake CUDA tensors (`check_device_placement`; needs no GPU)
  notebooks  the `#| gpu` cells of the notebooks (`nbdev_test --flags gpu --path ...`, one process per notebook)
It writes summary.json, summary.md and logs/ to `--out`.

GPU:  python bench/gpu_check.py --out bench/results/gpu_check_h100            (about 6-8 minutes)
CPU:  OMP_NUM_THREADS=1 python bench/gpu_check.py --cpu --out /tmp/gpu_check  (the reduced mode the tests run: tiny
      configs, every phase on the CPU, host reads found by a dispatch mode instead of the CUDA sync check; the
      notebook cells are only compiled: they need a GPU)
"""
from __future__ import annotations
import argparse, contextlib, json, math, os, platform, re, shutil, subprocess, sys, tempfile, time, traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PHASES = ('synthesis', 'placement', 'loss', 'resume', 'sync', 'recipes', 'notebooks')   # the order they run in
RECIPES = (('controller', 't4'), ('controller', 'daclip'), ('restorer', 't4'), ('restorer', 'daclip'))
NO_GPU = 'needs a GPU (CUDA)'   # the start of every reason to skip that only a missing GPU gives

class Skip(Exception):
    "A phase that cannot run here; its message is the reason."

class Ctx:
    "What the phases share: options, device, folders, the deadline, the card, and things built once."
    def __init__(self, a):
        self.a, self.cpu = a, a.cpu
        self.device = 'cpu' if a.cpu else 'cuda'
        self.out = Path(a.out); (self.out / 'logs').mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix='gpu_check_', dir=a.tmp))
        self.t0 = time.perf_counter(); self.deadline = self.t0 + a.budget
        self.card, self.plans, self.pool, self.cache = None, {}, None, {}
    def left(self) -> float: return self.deadline - time.perf_counter()
    def sync(self):
        if self.device == 'cuda': torch.cuda.synchronize()

# ---------------------------------------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def logged(ctx, name: str):
    "The learners' console output and warnings go to logs/<name>.log."
    with open(ctx.out / 'logs' / f'{name}.log', 'a') as f, contextlib.redirect_stdout(f), warnings.catch_warnings():
        warnings.simplefilter('always')
        warnings.showwarning = lambda m, c, fn, ln, file=None, line=None: f.write(f"{c.__name__}: {m} ({fn}:{ln})\n")
        yield f

def mib(b) -> float | None: return None if b is None else round(b / 2**20, 1)

def same_weights(a: dict, b: dict) -> tuple[bool, float]:
    "Whether two state dicts are bit-identical, and their largest absolute difference."
    assert a.keys() == b.keys(), (sorted(a.keys() ^ b.keys())[:4])
    diff = max(((a[k].float() - b[k].float()).abs().max().item() if a[k].numel() else 0.0) for k in a)
    return all(torch.equal(a[k], b[k]) for k in a), diff

def controller_folder(ctx, model: str) -> Path:
    "A controller folder (`load_controller` reads it) with random weights: 'tiny' or 'ViT-B-32' (no download)."
    from multideg.controller import controller_from_config
    from multideg.controller_training import ControllerTrainConfig
    from multideg.inference import save_controller
    from multideg.learner import seed_stage
    folder = ctx.tmp / f'controller-{model}'
    if not (folder / 'controller.json').is_file():
        seed_stage(0, 'init')
        save_controller(controller_from_config(ControllerTrainConfig(model=model).controller_config()), folder)
    return folder

def trainer_precision(t) -> str:
    from multideg.learner import MixedPrecisionCB
    cb = t.cb(MixedPrecisionCB)
    return cb.precision if cb is not None else 'no'

@contextlib.contextmanager
def extra_callbacks(*cbs):
    "The training functions build their learner with `standard_callbacks(...) + cbs` (the check's probes)."
    import multideg.controller_training as mct, multideg.restorer_training as mrt
    std = mct.standard_callbacks
    def with_probes(*a, **k): return std(*a, **k) + list(cbs)
    mct.standard_callbacks = mrt.standard_callbacks = with_probes
    try: yield
    finally: mct.standard_callbacks = mrt.standard_callbacks = std

def plan_key(cfg, card) -> tuple:
    "What a plan depends on (a card unknown to CARDS has NaN TFLOP/s, which equals nothing: not part of the key)."
    return cfg.to_json(), None if card is None else (card.name, card.memory, tuple(card.capability))

@contextlib.contextmanager
def known_plans(ctx):
    "The training functions' own plan (made before a GPU run) is the one the check already made: not made twice."
    import multideg.controller_training as mct, multideg.restorer_training as mrt
    pc, pr = mct.plan_controller, mrt.plan_restoration
    def cached(f):
        def plan(cfg, card=None):
            hit = ctx.plans.get(plan_key(cfg, card))
            return hit if hit is not None else f(cfg, card)
        return plan
    mct.plan_controller, mrt.plan_restoration = cached(pc), cached(pr)
    try: yield
    finally: mct.plan_controller, mrt.plan_restoration = pc, pr

# ---------------------------------------------------------------------------------------------------------- configs
def recipe_config(ctx, kind: str, name: str):
    "A recipe at its batch size (on --cpu: tiny-ised), with the check's run folder and nothing it does not measure."
    from multideg.controller_training import CONTROLLER_RECIPES, ControllerTrainConfig
    from multideg.restorer_training import RESTORATION_RECIPES, RestorationConfig
    common = dict(out=str(ctx.tmp / f'{kind}-{name}'), source=ctx.a.source, device=ctx.device, tensorboard=False,
                  log_every=1000, val_every=0, save_every=0, num_workers=ctx.a.workers)
    if kind == 'controller':
        r = dict(CONTROLLER_RECIPES[name], **common, pretrained=None, val_count=8)
        if ctx.cpu: r.update(model='tiny', batch_size=4, accumulate=min(2, r.get('accumulate', 1)), count=8,
                             epoch_length=64)
        return ControllerTrainConfig(**r)
    r = dict(RESTORATION_RECIPES[name], **common, val_count=2,
             controller=str(controller_folder(ctx, 'tiny' if ctx.cpu else 'ViT-B-32')))
    if ctx.cpu: r.update(batch_size=2, accumulate=min(2, r.get('accumulate', 1)), patch_size=32, count=8, epoch_length=64,
                         backbone_options=dict(r.get('backbone_options', {}), nf=8))
    return RestorationConfig(**r)

def small_restorer(ctx, out: str, **kw):
    "A small restorer run (tiny U-Net, the tiny controller): seconds on a GPU, and on the CPU with --cpu."
    from multideg.restorer_training import RestorationConfig
    d = dict(out=str(ctx.tmp / out), steps=20, batch_size=8, patch_size=64, count=16, epoch_length=256, val_count=2,
             val_every=0, save_every=0, log_every=5, ema_every=2, device=ctx.device, tensorboard=False, source=ctx.a.source,
             controller=str(controller_folder(ctx, 'tiny')), num_workers=ctx.a.workers)
    if ctx.cpu: d.update(batch_size=2, patch_size=32, count=4, epoch_length=32)
    return RestorationConfig(**{**d, **kw})

# ------------------------------------------------------------------------------------------------------------ probes
class TimedStream:
    "The learner's batch stream, timing `next` (the host waiting for data) while `on`."
    def __init__(self, stream): self.stream, self.wait, self.on, self.pause = stream, 0.0, False, None
    def __iter__(self): return self
    def __next__(self):
        if self.pause: self.pause(True)
        t = time.perf_counter()
        try: return next(self.stream)
        finally:
            if self.on: self.wait += time.perf_counter() - t
            if self.pause: self.pause(False)
    def __getattr__(self, k): return getattr(self.stream, k)   # state_dict, load_state_dict, loader, ...

def _callback():
    from multideg.learner import Callback
    return Callback

def step_probe(ctx, warmup: int, steps: int, seconds: float):
    "A callback timing a window of `steps` optimiser steps after `warmup` (or fewer, when `seconds` run out)."
    class StepProbe(_callback()):
        order = -100
        def __init__(self): self.t0 = self.t1 = None; self.n = 0; self.first = None
        def after_create(self, learn):
            self.stream = learn.stream = TimedStream(learn.stream); self.created = time.perf_counter()
        def before_step(self, learn):
            if learn.step == warmup:
                ctx.sync(); self.t0 = time.perf_counter(); self.stream.on = True
            elif self.t0 is not None and self.t1 is None:
                if learn.step - warmup >= steps or time.perf_counter() - self.t0 > seconds:
                    ctx.sync(); self.t1 = time.perf_counter(); self.stream.on = False; self.n = learn.step - warmup
                    learn.stopping = 'the check has its figures'
        def after_step(self, learn):
            if learn.step == 1: ctx.sync(); self.first = time.perf_counter() - self.created
    return StepProbe()

HOST_READS = {'aten::_local_scalar_dense', 'aten::nonzero', 'aten::is_nonzero', 'aten::equal', 'aten::unique',
              'aten::_unique2', 'aten::masked_select', 'aten::repeat_interleave'}

def _site(frames) -> str:
    "The innermost multideg frame of a stack (else the innermost frame outside torch), as 'file:line  code'."
    own = [f for f in frames if '/multideg/' in f.filename] or [f for f in frames if '/torch/' not in f.filename]
    f = (own or list(frames))[-1]
    return f"{Path(f.filename).name}:{f.lineno}  {(f.line or '').strip()}"

def sync_probes(ctx, log_every: int, mode: str):
    "Two callbacks around every step that does not log (nor is the first): CUDA's sync check, or on the CPU the host reads."
    Callback = _callback()
    found, degrading = {}, {}
    if ctx.cpu:
        from torch.utils._python_dispatch import TorchDispatchMode
        class HostReads(TorchDispatchMode):
            active, bucket = True, 'step'
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if self.active and func._schema.name in HOST_READS:
                    stack = traceback.extract_stack()[:-1]
                    if not any('/torch/optim/' in f.filename for f in stack):   # AdamW's step counts: CPU on a GPU too
                        site = _site(stack)
                        into = found if self.bucket == 'step' else degrading
                        into.setdefault(site, {'op': func._schema.name, 'count': 0})['count'] += 1
                return func(*args, **(kwargs or {}))
        watch = HostReads()
    def quiet_step(learn) -> bool:
        s = learn.step + 1
        return s > 1 and s % log_every and s != learn.stop
    class On(Callback):
        order = -1000
        def after_create(self, learn):
            if ctx.cpu:   # the loader's own work (no workers on a CPU) is not the step's
                learn.stream = TimedStream(learn.stream); learn.stream.pause = lambda p: setattr(watch, 'active', not p)
        def before_step(self, learn):
            self.on = quiet_step(learn)
            if not self.on: return
            if ctx.cpu: watch.__enter__()
            else: torch.cuda.set_sync_debug_mode(mode)
    class Off(Callback):
        order = 1000
        def after_step(self, learn): self.off(learn)
        def cleanup_fit(self, learn): self.off(learn)
        def off(self, learn):
            if not getattr(on, 'on', False): return
            on.on = False
            if ctx.cpu: watch.__exit__(None, None, None)
            else: torch.cuda.set_sync_debug_mode(0)
    class Degrading(Callback):   # around DegradeOnDeviceCB (order -19): its reads are listed apart on the CPU
        def __init__(self, order, bucket): self.order, self.bucket = order, bucket
        def before_batch(self, learn):
            if ctx.cpu: watch.bucket = self.bucket
    on = On()
    return [on, Off(), Degrading(-19.5, 'degrade'), Degrading(-18.5, 'step')], found, degrading

# ------------------------------------------------------------------------------------------------------------ phases
def phase_synthesis(ctx) -> dict:
    "Synthesis on the device: `degrade_batch` at 256² (CPU: 64²), images/s; per degradation; GPU JPEG vs Pillow."
    from multideg.data import SyntheticPairs, collate, recipe_source
    from multideg.degradations import NAMES, DegradationSampler, jpeg_roundtrip
    size, B, nb = (64, 8, 2) if ctx.cpu else (256, 64, 8)
    src = recipe_source(ctx.a.source, 'train', count=16, size=int(1.5 * size), seed=0)
    mix = DegradationSampler(counts={1: 0.5, 2: 0.5}, weights={k: 1.0 for k in NAMES})
    ds = SyntheticPairs(src, mix, size, length=10**6, seed=0, degrade='device')
    t = time.perf_counter(); items = [ds[i] for i in range(B * nb)]; t_items = time.perf_counter() - t
    batches = [collate(items[k:k + B]) for k in range(0, len(items), B)]
    def rate(batches, sampler) -> float:
        dev = [{k: v.to(ctx.device) if isinstance(v, torch.Tensor) else v for k, v in b.items()} for b in batches]
        ds.sampler = sampler
        ds.degrade_batch(dev[0]); ctx.sync()                     # warm-up (kernels, cuDNN, the JPEG codec)
        t = time.perf_counter()
        for b in dev: out = ds.degrade_batch(b)
        ctx.sync()
        assert out['lq'].shape == b['gt'].shape and out['lq'].device.type == ctx.device
        return len(dev) * B / (time.perf_counter() - t)
    res = {'size': size, 'batch': B, 'batches': nb, 'device': ctx.device,
           'clean_crops_and_plans_per_s_one_core': B * nb / t_items, 'images_per_s': rate(batches, mix)}
    per = {}
    for n in NAMES:
        if ctx.left() < 30: per[n] = None; continue
        one = DegradationSampler(counts={1: 1.0}, weights={n: 1.0})
        g = torch.Generator().manual_seed(1)
        its = [{**it, **_replan(one, it, g)} for it in items[:2 * B]]
        per[n] = rate([collate(its[:B]), collate(its[B:])], one)
    res['per_degradation_images_per_s'] = per
    x = torch.stack([it['gt'] for it in items[:B]]).mul(255).round().div(255)
    q = torch.full((B,), 50)
    psnr = lambda a, b: min(120.0, float(10 * torch.log10(1 / (a.double() - b.double()).pow(2).mean())))
    ours = jpeg_roundtrip(x.to(ctx.device), q.to(ctx.device), 'auto').cpu()
    pil = jpeg_roundtrip(x, q, 'pillow')
    res['jpeg_q50_psnr_auto_vs_pillow_db'] = psnr(ours, pil)
    res['jpeg_q50_psnr_pillow_vs_clean_db'] = psnr(pil, x)
    res['checks'] = {'all_degradations_ran': all(v is None or v > 0 for v in per.values()),
                     'jpeg_close_to_pillow': res['jpeg_q50_psnr_auto_vs_pillow_db'] > 30}
    if not ctx.cpu: res['checks']['at_least_1000_images_per_s'] = res['images_per_s'] >= 1000
    return res

def _replan(sampler, item, g) -> dict:
    "An item's records redrawn by another sampler (for one degradation at a time)."
    from multideg.data import _labels
    return _labels(sampler.plan(1, g, scene=None)[0])

def phase_placement(ctx) -> dict:
    "The restorer recipes' loss forward passes on fake CUDA tensors: a tensor left on the CPU or a host read raises."
    from multideg.inference import build_backbone, build_sde
    from multideg.learner import check_device_placement
    from multideg.restorer_training import RestorationConfig, _restoration_loss
    res = {}
    def attempt(name, build, batch, fwd):
        try: check_device_placement(build, batch, fwd); res[name] = 'ok'
        except Exception as e: res[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    for preset in ('tiny', 'daclip'):
        rc = RestorationConfig(preset=preset, fusion='none', sde={'prediction': 'noise'}, loss='ml',
                               backbone_options={'nf': 8} if ctx.cpu and preset == 'daclip' else {})
        rcfg, made = rc.restorer_config(64), {'real': None}
        made['real'] = build_sde(rcfg)    # its constants are computed for real, then made fake CUDA tensors
        def build():
            from torch._guards import detect_fake_mode
            mode = detect_fake_mode()
            made['sde'] = made['real']._apply(lambda t: mode.from_tensor(t).to('cuda'))
            return build_backbone(rcfg)
        def loss(m, b): return _restoration_loss(m, b, sde=made['sde'], controller=None, oracle=False, normalize=False,
                                                 loss='ml')
        attempt(f'restorer_{preset}_loss', build,
                lambda: {'lq': torch.rand(2, 3, 32, 32), 'gt': torch.rand(2, 3, 32, 32), 'records': [[], []]}, loss)
    res['checks'] = {k: v == 'ok' for k, v in res.items()}
    res['not_checked'] = ("the controller: open_clip's model built under FakeTensorMode on a fake CUDA device mixes fake "
                          "modes and its tokenizer makes CPU tensors (the recipes and sync phases run it for real)")
    return res

def phase_loss(ctx) -> dict:
    "A few hundred mixed-precision steps of a small direct restorer: the logged loss falls."
    from multideg.learner import choose_precision, read_metrics
    from multideg.restorer_training import train_restoration
    precisions = ['no'] if ctx.cpu else (['bf16'] if choose_precision(ctx.device, 'auto') == 'bf16' else []) + ['fp16']
    steps = 40 if ctx.cpu else 300
    res, checks = {}, {}
    for i, prec in enumerate(precisions):
        share = max(10.0, (ctx.phase_left() - 5) / (len(precisions) - i))
        cfg = small_restorer(ctx, f'loss-{prec}', backbone='nafnet', preset='tiny', fusion='none', controller=None,
                             steps=steps, lr=2e-3, warmup=10, log_every=5 if ctx.cpu else 10, ema_beta=None,
                             degrade='device', mixed_precision=prec, time_limit=share / 60, batch_size=4 if ctx.cpu else 16,
                             patch_size=32 if ctx.cpu else 64, backbone_options={})
        t = time.perf_counter()
        with logged(ctx, 'loss'): tr = train_restoration(cfg)
        loss = [v for _, v in read_metrics(cfg.out, 'train')['loss']]
        k = max(1, len(loss) // 5)
        first, last = sum(loss[:k]) / k, sum(loss[-k:]) / k
        res[prec] = {'precision_used': trainer_precision(tr), 'steps': tr.step, 'seconds': time.perf_counter() - t,
                     'first_logged_loss_mean': first, 'last_logged_loss_mean': last, 'logged': len(loss),
                     'scaler': tr.scaler is not None}
        checks[f'{prec}_loss_falls'] = last < 0.8 * first and all(math.isfinite(v) for v in loss)
        checks[f'{prec}_precision_as_asked'] = res[prec]['precision_used'] == prec
        checks[f'{prec}_enough_steps'] = tr.step >= (steps if ctx.cpu else 100)
    res['checks'] = checks
    return res

def phase_resume(ctx) -> dict:
    "Stop at step k (`until=`), resume with a new learner, compare with uninterrupted runs (two: the card's own noise)."
    from multideg.learner import read_metrics
    from multideg.restorer_training import train_restoration
    steps, k = (6, 3) if ctx.cpu else (20, 10)
    def run(name, until=None):
        with logged(ctx, 'resume'):
            return train_restoration(small_restorer(ctx, name, steps=steps, degrade='device'), until=until)
    a = run('resume-full')
    half = run('resume-half', until=k)
    c = run('resume-half')
    if ctx.cpu: eq_ab, d_ab = True, 0.0      # the CPU is deterministic: the resumed run must be bit-identical
    else: eq_ab, d_ab = same_weights(a.raw_model.state_dict(), run('resume-full2').raw_model.state_dict())
    eq_ac, d_ac = same_weights(a.raw_model.state_dict(), c.raw_model.state_dict())
    la = [v for _, v in read_metrics(a.out, 'train')['loss']]
    lc = [v for _, v in read_metrics(c.out, 'train')['loss']]
    res = {'steps': steps, 'stopped_at': half.step, 'resumed_to': c.step, 'precision': trainer_precision(a),
           'full_vs_full_bitwise': eq_ab, 'full_vs_full_max_abs_diff': d_ab,
           'full_vs_resumed_bitwise': eq_ac, 'full_vs_resumed_max_abs_diff': d_ac,
           'logged_losses_full': la, 'logged_losses_resumed': lc}
    res['checks'] = {'steps': (half.step, c.step) == (k, steps),
                     'resumed_as_uninterrupted': eq_ac if eq_ab else d_ac <= 10 * d_ab + 1e-6,
                     'published': (c.out / 'restorer.safetensors').is_file()}
    return res

def phase_sync(ctx) -> dict:
    "Steps that do not log make no host sync: CUDA's sync check ('error'; a 'warn' rerun lists all), CPU: host reads."
    from multideg.controller_training import ControllerTrainConfig, train_controller
    from multideg.restorer_training import train_restoration
    log_every, steps = 4, 8 if ctx.cpu else 12
    cases = {
        'restorer': lambda n: small_restorer(ctx, n, steps=steps, log_every=log_every, sde={'prediction': 'noise'},
                                             loss='ml'),     # the daclip recipes' loss
        'restorer_fp16': lambda n: small_restorer(ctx, n, steps=steps, log_every=log_every, mixed_precision='fp16'),
        'restorer_device_degrade': lambda n: small_restorer(ctx, n, steps=steps, log_every=log_every, degrade='device'),
        'controller': lambda n: ControllerTrainConfig(
            out=str(ctx.tmp / n), steps=steps, batch_size=4 if ctx.cpu else 32, count=8, val_count=4, epoch_length=128,
            log_every=log_every, val_every=0, save_every=0, device=ctx.device, tensorboard=False, source=ctx.a.source,
            calibrate=False, num_workers=ctx.a.workers),
    }
    res, checks = {}, {}
    if ctx.cpu: del cases['restorer_fp16']      # float16 autocast is CUDA's (the CPU trains in float32)
    for name, make in cases.items():
        if ctx.phase_left() < (3 if ctx.cpu else 15): res[name] = 'not run: out of time'; continue
        train = train_controller if name == 'controller' else train_restoration
        r = {}
        for mode in (['error'] if ctx.cpu else ['error', 'warn']):
            probes, found, degrading = sync_probes(ctx, log_every, mode)
            caught = []
            with logged(ctx, 'sync') as f, extra_callbacks(*probes), warnings.catch_warnings():
                warnings.simplefilter('always')
                def show(m, c, fn, ln, file=None, line=None):
                    if 'synchroniz' in str(m).lower():
                        site = _site(traceback.extract_stack()[:-1])
                        found.setdefault(site, {'op': str(m)[:120], 'count': 0})['count'] += 1
                    else: f.write(f"{c.__name__}: {m}\n")
                warnings.showwarning = show
                try: t = train(make(f'sync-{name}-{mode}')); r['steps'] = t.step
                except RuntimeError as e:
                    if 'synchroniz' not in str(e).lower(): raise
                    caught.append({'error': str(e).splitlines()[0][:200],
                                   'site': _site(traceback.extract_tb(e.__traceback__))})
                finally:
                    if not ctx.cpu: torch.cuda.set_sync_debug_mode(0)
            if mode == 'error':
                r['first_sync'] = caught[0] if caught else None
                r['host_reads' if ctx.cpu else 'syncs'] = found
                if degrading: r['degradation_host_reads_not_checked'] = degrading
                if not caught and not found: break
            else: r['syncs_all'] = found
        res[name] = r
        checks[f'{name}_no_sync'] = not r.get('first_sync') and not r.get('host_reads') and not r.get('syncs')
    res['checks'] = checks
    res['how'] = ('CPU: aten ops that read values back to the host (a dispatch mode), outside the loader; the reads '
                  'of the on-device degradation are listed, not checked (on the CPU the records\' values and the '
                  'images are alike CPU tensors; on a GPU only the second kind syncs, and the CUDA check sees them)'
                  if ctx.cpu else "torch.cuda.set_sync_debug_mode('error'), then 'warn' to list every site")
    return res

def _plan_job(kind: str, cfg_json: str, card):
    "A plan in a worker process (the FakeTensorMode plans take 10-50 s each on one core)."
    warnings.simplefilter('ignore')
    if kind == 'controller':
        from multideg.controller_training import ControllerTrainConfig, plan_controller
        return plan_controller(ControllerTrainConfig.from_dict(json.loads(cfg_json)), card)
    from multideg.restorer_training import RestorationConfig, plan_restoration
    return plan_restoration(RestorationConfig.from_dict(json.loads(cfg_json)), card)

def start_plans(ctx):
    "The recipes' plans for the visible card, computed in worker processes while the other phases use the GPU."
    from multideg.learner import visible_card
    ctx.card = visible_card(ctx.device) if not ctx.cpu else None
    jobs = {}
    for kind, name in RECIPES:
        cfg = recipe_config(ctx, kind, name)
        ctx.cache[(kind, name)] = cfg
        if ctx.a.plan_workers:
            if ctx.pool is None:
                import multiprocessing as mp
                ctx.pool = ProcessPoolExecutor(ctx.a.plan_workers, mp_context=mp.get_context('spawn'))
            jobs[(kind, name)] = ctx.pool.submit(_plan_job, kind, cfg.to_json(), ctx.card)
        else: jobs[(kind, name)] = None
    ctx.plan_jobs, ctx.plan_t0 = jobs, time.perf_counter()

def phase_recipes(ctx) -> dict:
    "Each recipe at its batch size: step time, samples/s, the data wait, peak memory against the plan."
    from multideg.controller_training import train_controller
    from multideg.restorer_training import train_restoration
    res, checks = {}, {}
    for i, (kind, name) in enumerate(RECIPES):
        key = f'{kind}_{name}'
        share = (ctx.phase_left() - 5) / (len(RECIPES) - i)
        if share < 15: res[key] = 'not run: out of time'; checks[f'{key}_ran'] = False; continue
        cfg = ctx.cache[(kind, name)]
        r = {'batch_size': cfg.batch_size, 'accumulate': cfg.accumulate, 'mixed_precision': cfg.mixed_precision,
             'degrade': cfg.degrade}
        try:
            job = ctx.plan_jobs[(kind, name)]
            t = time.perf_counter()
            if job is not None: plan = job.result(timeout=max(1.0, share))
            else: plan = _plan_job(kind, cfg.to_json(), ctx.card)
            r['plan_wait_s'] = time.perf_counter() - t
            ctx.plans[plan_key(cfg, ctx.card)] = plan
            r['plan'] = str(plan); r['plan_peak_mib'] = mib(plan.peak); r['plan_precision'] = plan.precision
            r['plan_tflop_per_step'] = plan.flops / 1e12
            if ctx.card is not None:
                from multideg.learner import plan_report
                r['plan_report'] = plan_report(plan, ctx.card); r['plan_fits'] = plan.fits(ctx.card.memory)
        except Exception as e:
            r['plan_error'] = f"{type(e).__name__}: {e}"[:400]; plan = None
        warm, n = (1, 2) if ctx.cpu else ((1, 3) if kind == 'controller' else (3, 20))
        probe = step_probe(ctx, warm, n, max(5.0, share - 30))
        if not ctx.cpu: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        try:
            with logged(ctx, f'recipe-{key}'), extra_callbacks(probe), known_plans(ctx):
                tr = (train_controller if kind == 'controller' else train_restoration)(cfg, until=warm + n + 1)
        except Exception as e:
            r['error'] = f"{type(e).__name__}: {e}"[:600]; res[key] = r; checks[f'{key}_ran'] = False
            if not ctx.cpu: torch.cuda.empty_cache()
            continue
        r['seconds'] = time.perf_counter() - t
        per_step = cfg.batch_size * cfg.accumulate
        if probe.t1 is not None and probe.n:
            span = probe.t1 - probe.t0
            r.update(measured_steps=probe.n, step_s=span / probe.n, samples_per_s=probe.n * per_step / span,
                     data_wait_fraction=probe.stream.wait / span, first_step_s=probe.first)
        r['precision'] = trainer_precision(tr)
        r['workers'] = tr.stream.num_workers
        if not ctx.cpu:
            peak = torch.cuda.max_memory_allocated()
            ema = sum(v.numel() * v.element_size() for v in tr.ema.shadow.values()) if tr.ema is not None else 0
            r.update(peak_mib=mib(peak), ema_mib=mib(ema))
            if plan is not None:
                r['peak_over_plan'] = peak / plan.peak
                r['peak_over_plan_plus_ema'] = peak / (plan.peak + ema)
            del tr; torch.cuda.empty_cache()
        checks[f'{key}_ran'] = 'step_s' in r
        checks[f'{key}_planned'] = 'plan_error' not in r
        if not ctx.cpu and plan is not None:
            checks[f'{key}_plan_within_25pct'] = abs(r['peak_over_plan_plus_ema'] - 1) <= 0.25
        res[key] = r
    if ctx.pool is not None: ctx.pool.shutdown(cancel_futures=True)
    res['checks'] = checks
    return res

def gpu_cells() -> dict:
    "The `#| gpu` cells of the notebooks: {notebook: [cell sources]}."
    out = {}
    for nb in sorted((REPO / 'nbs').glob('*.ipynb')):
        cells = json.loads(nb.read_text())['cells']
        src = [''.join(c['source']) for c in cells if c['cell_type'] == 'code']
        gpu = [s for s in src if re.search(r'^#\|\s*gpu\s*$', s, re.M)]
        if gpu: out[nb] = gpu
    return out

def phase_notebooks(ctx) -> dict:
    "The notebooks' `#| gpu` cells compiled; on a GPU, `nbdev_test --flags gpu --path NB` for each, in parallel."
    cells = gpu_cells()
    res = {'notebooks': {nb.name: len(v) for nb, v in cells.items()}}
    for nb, srcs in cells.items():
        for s in srcs:   # the code (the #| lines are comments; no magics in these cells)
            compile('\n'.join(l for l in s.splitlines() if not l.lstrip().startswith(('%', '!'))), nb.name, 'exec')
    if ctx.cpu:
        raise Skip(f"{NO_GPU}: {sum(map(len, cells.values()))} gpu cells in {len(cells)} notebooks compiled, not run")
    limit = max(30.0, ctx.phase_left() - 5)
    nbdev_test = Path(sys.executable).parent / 'nbdev_test'
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 2) // max(1, len(cells)))))
    procs = {}
    for nb in cells:
        f = open(ctx.out / 'logs' / f'notebook-{nb.stem}.log', 'w')
        cmd = [str(nbdev_test) if nbdev_test.exists() else 'nbdev_test', '--flags', 'gpu', '--path', str(nb)]
        procs[nb.name] = (subprocess.Popen(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=env), f,
                          time.perf_counter())
    checks = {}
    for name, (p, f, t) in procs.items():
        try: rc = p.wait(timeout=max(1.0, limit - (time.perf_counter() - t)))
        except subprocess.TimeoutExpired: p.kill(); p.wait(); rc = 'timeout'
        f.close()
        tail = (ctx.out / 'logs' / f'notebook-{Path(name).stem}.log').read_text()[-1500:]
        res[name] = {'rc': rc, 'seconds': time.perf_counter() - t, 'tail': tail if rc != 0 else tail[-200:]}
        checks[f'{name}_passed'] = rc == 0
    res['checks'] = checks
    return res

# ------------------------------------------------------------------------------------------------------------ driver
BUDGET_SHARE = {'synthesis': 0.07, 'placement': 0.05, 'loss': 0.12, 'resume': 0.07, 'sync': 0.1, 'recipes': 0.3,
                'notebooks': 0.29}

def run_phase(ctx, name: str, summary: dict):
    "Run one phase within its share of the time left; its outcome, whatever happens, goes into `summary`."
    rest = [p for p in PHASES[PHASES.index(name):] if p in ctx.wanted]
    share = BUDGET_SHARE[name] / sum(BUDGET_SHARE[p] for p in rest)
    start = time.perf_counter(); end = start + max(10.0, share * ctx.left())
    ctx.phase_left = lambda: end - time.perf_counter()
    entry = {}
    print(f"[{time.perf_counter() - ctx.t0:6.1f} s] {name} ({end - start:.0f} s) ...", flush=True)
    try:
        if name == 'notebooks' or ctx.left() > 5:
            entry['results'] = globals()[f'phase_{name}'](ctx)
            bad = [k for k, ok in entry['results'].get('checks', {}).items() if not ok]
            entry['status'] = 'failed' if bad else 'passed'
            if bad: entry['failed_checks'] = bad
        else: entry.update(status='skipped', reason='out of time (the whole check has --budget seconds)')
    except Skip as e: entry.update(status='skipped', reason=str(e))
    except Exception as e:
        entry.update(status='failed', error=f"{type(e).__name__}: {e}"[:1000],
                     traceback=traceback.format_exc()[-3000:])
    finally:
        if not ctx.cpu:
            with contextlib.suppress(Exception): torch.cuda.set_sync_debug_mode(0); torch.cuda.empty_cache()
    entry['seconds'] = round(time.perf_counter() - start, 1)
    summary['phases'][name] = entry
    print(f"[{time.perf_counter() - ctx.t0:6.1f} s] {name}: {entry['status']}"
          + (f" ({entry.get('reason') or entry.get('error') or ', '.join(entry.get('failed_checks', []))})"
             if entry['status'] != 'passed' else ''), flush=True)

def _fmt(v) -> str:
    if isinstance(v, float): return f"{v:.4g}"
    if isinstance(v, dict): return '; '.join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)

def write_markdown(summary: dict, path: Path):
    m = summary['meta']
    lines = [f"# GPU check ({'--cpu, reduced' if m['cpu'] else 'GPU'}): `bench/gpu_check.py`", '',
             f"{m['device']}; torch {m['torch']}, CUDA {m['cuda']}; {m['cores']} cores; source {m['source']!r}; "
             f"{m['when']}; {summary['total_s']:.0f} s of a {m['budget']:.0f} s budget.", '',
             '| phase | status | seconds | failed checks / reason |', '|---|---|---|---|']
    for n, e in summary['phases'].items():
        why = ', '.join(e.get('failed_checks', [])) or e.get('reason') or e.get('error', '')
        lines.append(f"| {n} | {e['status']} | {e['seconds']} | {why} |")
    rec = summary['phases'].get('recipes', {}).get('results', {})
    rows = [(k, v) for k, v in rec.items() if k != 'checks' and isinstance(v, dict)]
    if rows:
        lines += ['', '## Recipes at their batch sizes', '',
                  '| recipe | batch × acc | precision | step (s) | samples/s | data wait | first step (s) '
                  '| peak (MiB) | plan (MiB) | peak / (plan + EMA) |', '|---|---|---|---|---|---|---|---|---|---|']
        g = lambda r, k, f='{:.3g}': f.format(r[k]) if r.get(k) is not None else '–'
        for k, r in rows:
            lines.append(f"| {k} | {r['batch_size']} × {r['accumulate']} | {r.get('precision', '–')} | {g(r, 'step_s')} "
                         f"| {g(r, 'samples_per_s', '{:.1f}')} | {g(r, 'data_wait_fraction', '{:.0%}')} "
                         f"| {g(r, 'first_step_s', '{:.1f}')} | {g(r, 'peak_mib', '{:.0f}')} | "
                         f"{g(r, 'plan_peak_mib', '{:.0f}')} | {g(r, 'peak_over_plan_plus_ema', '{:.2f}')} |")
        lines += [f"- {k}: {r.get('plan_report') or r.get('plan') or r.get('plan_error')}" for k, r in rows]
        lines += [f"- {k}: error {r['error']}" for k, r in rows if 'error' in r]
    for n, e in summary['phases'].items():
        if n == 'recipes': continue
        res = e.get('results') or {}
        lines += ['', f"## {n}: {e['status']}", '']
        lines += [f"- {k}: {_fmt(v)}" for k, v in res.items()]
        if 'error' in e: lines += ['', '```', e.get('traceback', e['error']), '```']
    path.write_text('\n'.join(lines) + '\n')

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                epilog=__doc__.split('\n\n', 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='bench/results/gpu_check', help='folder for summary.json, summary.md, logs/')
    p.add_argument('--source', default='embedded', help="the recipes' photos: 'embedded' or a folder of photos")
    p.add_argument('--cpu', action='store_true', help='the reduced mode: every phase on the CPU with tiny configs')
    p.add_argument('--budget', type=float, default=None, help='seconds for the whole check (default 450; --cpu 300)')
    p.add_argument('--phases', nargs='+', default=list(PHASES), choices=PHASES, help='the phases to run')
    p.add_argument('--workers', type=int, default=None, help='loader workers (default: the recipes\' own default)')
    p.add_argument('--plan_workers', type=int, default=None,
                   help="processes making the recipes' plans while the other phases run (default 4; --cpu 1; 0: none)")
    p.add_argument('--tmp', default=None, help='where run folders go (default: the system temporary folder)')
    p.add_argument('--keep', action='store_true', help='keep the run folders (default: removed at the end)')
    a = p.parse_args(argv)
    a.budget = a.budget or (300.0 if a.cpu else 450.0)
    if a.plan_workers is None: a.plan_workers = 1 if a.cpu else 4
    if not a.cpu and not torch.cuda.is_available():
        p.error("no CUDA device here: run with --cpu for the reduced check")
    warnings.simplefilter('ignore')
    ctx = Ctx(a); ctx.wanted = set(a.phases)
    summary = {'meta': {'cpu': a.cpu, 'device': torch.cuda.get_device_name() if not a.cpu else f"CPU ({platform.machine()})",
                        'torch': torch.__version__, 'cuda': torch.version.cuda, 'cores': os.cpu_count(),
                        'torch_threads': torch.get_num_threads(), 'source': a.source, 'budget': a.budget,
                        'when': time.strftime('%Y-%m-%d %H:%M:%S'), 'argv': sys.argv[1:] if argv is None else list(argv)},
               'phases': {}}
    print(f"gpu_check: {summary['meta']['device']}, budget {a.budget:.0f} s, run folders in {ctx.tmp}", flush=True)
    if 'recipes' in ctx.wanted:
        try: start_plans(ctx)
        except Exception as e: ctx.wanted.discard('recipes'); summary['phases']['recipes'] = {
            'status': 'failed', 'error': f"{type(e).__name__}: {e}"[:1000], 'traceback': traceback.format_exc()[-3000:],
            'seconds': 0.0}
    if ctx.card is not None: summary['meta']['card'] = asdict(ctx.card)
    for name in PHASES:
        if name in ctx.wanted: run_phase(ctx, name, summary)
    summary['total_s'] = round(time.perf_counter() - ctx.t0, 1)
    out = Path(a.out)
    (out / 'summary.json').write_text(json.dumps(summary, indent=1, default=str))
    write_markdown(summary, out / 'summary.md')
    if not a.keep: shutil.rmtree(ctx.tmp, ignore_errors=True)   # run folders: checkpoints of ViT-B-32s are GBs
    print(f"written {out / 'summary.json'} and summary.md in {summary['total_s']:.0f} s: "
          + ', '.join(f"{n} {e['status']}" for n, e in summary['phases'].items()), flush=True)
    return 0

if __name__ == '__main__': sys.exit(main())

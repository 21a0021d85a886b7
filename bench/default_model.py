"""The bundled default model (issue 24): pack a finished run of the `default` recipe into the package, measure it on
the held-out photos per degradation combination, time a 1024×1024 restoration, write the model card.

    OMP_NUM_THREADS=1 multideg train --recipe default --out runs/default     # about 75 minutes on 2 CPU cores
    python bench/default_model.py --run runs/default --pack                  # pack, measure, write MODEL_CARD.md

`--pack` writes multideg/models/default (float16 weights, `pack_restorer`; `--blend`, `--gate_psnr` and
`--gate_brighten` set its own blend). The measurement restores the same held-out images (preset 'upto2': 1 or 2 of the
12 types on the held-out photos, 256-px centre crops) with the packed model (float16 weights, its own blend), the run
itself (float32) and the packed model with each other blend (the gate at the model's threshold), and reports each
against the degraded input.
`--remeasure --head N` first gives the packed controller a statistics head (fitted on N crops drawn as the recipe's
controller draws them, only what shows, at 256 px; the CLIP, and so the restorer's steering, unchanged) and calibrates
its decoder; `--fill smooth` makes filling missing regions from around them the package's own.
`--gate_brighten RISE|off` sets the gate's brightening rule (`--pack`, `--remeasure`; default: as it is, 0.02 from
a run). `--reproduce STEP --reference CKPT` retrains the recipe to STEP in a temporary folder and compares its
checkpoint with a kept copy of the first training's (bit for bit). `--remeasure [--blend B] [--gate_psnr DB]` works
without the run: it sets the package's own blend, measures the package again and rewrites the card's measured sections.

    python bench/default_model.py --remeasure --blend gate --gate_psnr 25    # the bundled model with the gate
"""
import argparse, contextlib, csv, hashlib, io, json, os, platform, statistics, subprocess, sys, tempfile, time
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import safe_open

from harm_by_photo import by_photo      # bench/harm_by_photo.py
from multideg.core import atomic_write, load_image, save_image
from multideg.data import sample_images
from multideg.evaluate import mark_worse
from multideg.evaluate import eval_dataset, evaluate, example_grid, markdown_table, restorer_fn, table_columns
from multideg.inference import BLENDS, FILLS, RestorerConfig, load_restorer
from multideg.metrics import psnr
from multideg.restore import Restorer, _half_state, brighten_option, default_model_folder, pack_restorer
from multideg.restorer_training import RESTORATION_RECIPES, RestorationConfig, _own_controller, train_restoration

COMMAND = "OMP_NUM_THREADS=1 multideg train --recipe default --out runs/default"


def brighten_arg(value: str) -> float | bool:
    "`brighten_option` for argparse: its one-line error shown as it is."
    try: return brighten_option(value)
    except ValueError as e: raise argparse.ArgumentTypeError(str(e).removeprefix("--gate_brighten: ")) from None


def rule_text(gate_brighten: float | None) -> str:
    "The brightening rule as `--gate_brighten` takes it: its limit, or 'off' (None: no rule)."
    return 'off' if gate_brighten is None else f"{gate_brighten:g}"


def cpu_name() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or 'unknown CPU'


def training_minutes(run: Path) -> dict:
    ("Estimated minutes of training of the controller and the restorer: the wall-clock time between logged steps "
     "(metrics.csv), leaving out pauses (an interval over 5x the median per step: a stop and a resume), and the "
     "steps before the first log at the median pace.")
    out = {}
    for name, folder in (('controller', run / 'controller'), ('restorer', run)):
        with open(folder / 'metrics.csv', newline='') as f:
            times = {}
            for row in csv.DictReader(f): times.setdefault(int(row['step']), float(row['time']))
        steps = sorted(times)
        per_step = [(times[b] - times[a]) / (b - a) for a, b in zip(steps, steps[1:])]
        pace = statistics.median(per_step)
        out[name] = (sum(p * (b - a) for p, a, b in zip(per_step, steps, steps[1:]) if p < 5 * pace)
                     + steps[0] * pace) / 60
    return out


def measure(path: Path, ds, blend: str, gate_psnr: float | None = None) -> tuple:
    "The results of the restorer folder `path` with `blend` (and the gate's threshold) on `ds`, and the seconds."
    r = Restorer.from_folder(path, device='cpu', blend=blend, gate_psnr=gate_psnr if blend == 'gate' else None)
    t0 = time.time()
    res = evaluate(restorer_fn(r), ds, metrics=('psnr', 'ssim'), device='cpu', progress=False)
    return res, time.time() - t0


def blend_label(blend: str, gate: float) -> str:
    return f"blend {blend}" + (f" at {gate:g} dB" if blend == 'gate' else '')


def measure_rows(entries, ds, gate: float) -> tuple[list, object]:
    "`summary_row` of each (name, folder, blend) of `entries` on `ds` (the gate at `gate` dB), and the first's results."
    rows, first = [], None
    for name, path, blend in entries:
        res, s = measure(path, ds, blend, gate)
        rows.append(summary_row(name, res, s)); first = first or res
        print(fmt_row(rows[-1]), f"{s / 60:.1f} min", flush=True)
    return rows, first


def summary_row(name: str, res, seconds: float) -> dict:
    rows = mark_worse(res.by_combination())
    combos, s = rows[:-1], rows[-1]
    worst = min(combos, key=lambda r: r['gain_psnr'])
    worst_ssim = min(combos, key=lambda r: r['gain_ssim'])
    return {'variant': name, 'n': s['n'], 'combinations': len(combos), 'input_psnr': s['input_psnr'],
            'output_psnr': s['output_psnr'], 'gain_psnr': s['gain_psnr'], 'input_ssim': s['input_ssim'],
            'output_ssim': s['output_ssim'], 'gain_ssim': s['gain_ssim'],
            'worst_psnr': f"{worst['combination']} ({worst['n']}): {worst['gain_psnr']:+.2f}",
            'worst_ssim': f"{worst_ssim['combination']} ({worst_ssim['n']}): {worst_ssim['gain_ssim']:+.4f}",
            'worse': [r['combination'] for r in combos if r['worse']],
            'images_worse': sum(r['output_psnr'] < r['input_psnr'] for r in res.rows),
            'recognised': s.get('recognised'), 'seconds': seconds}


def time_large(folder: Path, size: int, repeats: int, threads: int, work: Path) -> dict:
    "Seconds to restore a size×size photo: in Python (`Restorer.default`-style load, `restore`) and the command."
    src = sample_images('eval')[0].load()
    big = torch.nn.functional.interpolate(src[None], size=(size, size), mode='bicubic', antialias=True)[0].clamp(0, 1)
    path = work / f'photo{size}.png'
    save_image(big, path)
    torch.set_num_threads(threads)
    r = Restorer.from_folder(folder, device='cpu')
    x = load_image(path)
    python_s = []
    for _ in range(repeats):
        t0 = time.time(); ran_in = r.restore(x).tile; python_s.append(time.time() - t0)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE='1')
    cmd = [sys.executable, '-c', 'import sys; from multideg.cli import main; sys.exit(main(sys.argv[1:]))',
           'restore', str(path), '-o', str(work / 'out'), '--overwrite', '-q', '--device', 'cpu']
    if folder != default_model_folder(): cmd += ['--model', str(folder)]
    command_s = []
    for _ in range(repeats):
        t0 = time.time()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        command_s.append(time.time() - t0)
    return {'size': size, 'threads': threads, 'cpu': cpu_name(), 'ran_in': ran_in, 'python_s': python_s,
            'command_s': command_s,
            'python_median_s': statistics.median(python_s), 'command_median_s': statistics.median(command_s)}


def sha256(path: Path) -> str: return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# the day multideg's floating-point rounding last changed (notebook 05's LayerNorm): a reproduce check made before it
# says nothing of a retrain now, and the card says so
ARITHMETIC = '2026-12-07'


def reproduce(step: int, reference: Path, run: Path) -> dict:
    ("Retrain the default recipe to `step` in a temporary folder with one thread, as the training command runs; "
     "compare its checkpoint with `reference` (a copy of the first training's at that step) and its controller with "
     "`run`'s, bit for bit.")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RestorationConfig(**dict(RESTORATION_RECIPES['default'], out=str(Path(tmp) / 'default')))
        t0 = time.time()
        with contextlib.redirect_stdout(io.StringIO()):
            train_restoration(cfg, until=step)
        ckpt = Path(tmp) / 'default' / 'checkpoints' / f'step-{step:08d}'
        same = {f: sha256(ckpt / f) == sha256(reference / f) for f in ('model.safetensors', 'ema.safetensors')}
        ctrl = 'controller/controller.safetensors'
        same['controller'] = sha256(Path(tmp) / 'default' / ctrl) == sha256(run / ctrl)
        return {'step': step, 'identical': same, 'minutes': (time.time() - t0) / 60, 'threads': 1,
                'run_controller': sha256(run / ctrl), 'arithmetic': ARITHMETIC}


CLEAN_PROBES = ('camera', 'coins', 'page', 'text', 'moon', 'clock', 'horse')   # scikit-image's grey pictures


def clean_probe(folder: Path) -> list[dict]:
    ("How much the model changes images with nothing to restore: the held-out photos (clean, whole) and scikit-image's "
     "grey pictures (never trained on: the training photos are all in colour); PSNR of the output against the input "
     "(inf: unchanged).")
    from skimage import data as skdata
    r = Restorer.from_folder(folder, device='cpu')
    items = [(p.name, p.load()) for p in sample_images('eval')]
    for name in CLEAN_PROBES:
        a = torch.from_numpy(getattr(skdata, name)()).float()
        a = a / 255 if a.max() > 1 else a                                  # horse is boolean
        items.append((name, a[None].expand(3, -1, -1).contiguous()))      # all grey: H×W
    out = []
    for name, x in items:
        res = r.restore(x)
        out.append({'image': name, 'size': f"{x.shape[-1]}×{x.shape[-2]}",
                    'psnr': psnr(res.image[None], x[None]).item(), 'detected': ' + '.join(res.predicted) or 'nothing'})
    return out


def write_figure(path, res) -> None:
    "The held-out set's first 4 images (degraded, restored, clean) of the results `res`, as a small JPEG or PNG."
    fig = example_grid(res, title="multideg's default model on held-out photos (the first 4 of the set, "
                                  "not chosen by result)")
    jpg = Path(path).suffix.lower() in ('.jpg', '.jpeg')
    atomic_write(path, lambda f: fig.savefig(f, format='jpg' if jpg else 'png', dpi=60,
                                             **({'pil_kwargs': {'quality': 80}} if jpg else {})))


def fmt_row(r: dict) -> str:
    rec = '' if r['recognised'] is None else f"{100 * r['recognised']:.0f}%"
    return (f"| {r['variant']} | {r['n']} | {r['input_psnr']:.2f} → {r['output_psnr']:.2f} | "
            f"**{r['gain_psnr']:+.2f}** | {r['input_ssim']:.3f} → {r['output_ssim']:.3f} ({r['gain_ssim']:+.4f}) | "
            f"{r['worst_psnr']} | "
            f"{r['worst_ssim']} | {len(r['worse'])} of {r['combinations']} | {r['images_worse']} | {rec} |")


def speed_lines(timing: dict) -> list[str]:
    "The model card's speed section."
    how = ('the whole image at once (`tile` auto: it fits in memory)' if timing.get('ran_in', 512) is None
           else f"{timing.get('ran_in', 512)}-px tiles, NAFNet's pooling over the whole image")
    return ["## Speed", "",
            f"A {timing['size']}×{timing['size']} photo on {timing['threads']} CPU threads of "
            + (f"{timing['cpu']}" if timing.get('cpu') else "this machine") + f" (default settings: {how}): "
            f"`Restorer.restore` {timing['python_median_s']:.1f} s (median of "
            f"{', '.join(f'{v:.1f}' for v in timing['python_s'])}); the whole command (`multideg restore`: "
            f"start, load, read, restore, write) {timing['command_median_s']:.1f} s (median of "
            f"{', '.join(f'{v:.1f}' for v in timing['command_s'])}).", ""]


# the statistics head given to the packed controller (`--head N`): the demo's settings (notebook 15, profile cpu)
HEAD = dict(statistics_size=256, statistics_photos=0.5, visible_db=30.0)


def fit_head(folder: Path, n: int) -> dict:
    ("Give the controller in `folder` a statistics head fitted on `n` crops (`statistics_data` of the recipe's own "
     "controller run with `HEAD`), calibrate its decoder on that run's validation crops at the head's size, and write "
     "it back (float16, atomic). The CLIP's weights are kept: the restorer's embeddings do not change.")
    from multideg.controller import controller_from_config, fit_statistics_head
    from multideg.controller_training import _drawing_workers, _items, calibrate_decoding, controller_data, \
        statistics_data
    from multideg.core import save_weights
    from multideg.inference import load_controller
    t0 = time.time()
    cc = replace(_own_controller(RestorationConfig(**dict(RESTORATION_RECIPES['default'], out='runs/default'))),
                 statistics=n, **HEAD)
    old = load_controller(folder / 'controller')
    late = controller_from_config(replace(old.config, statistics=True, pretrained=None))
    missing = late.load_state_dict(old.state_dict(), strict=False).missing_keys
    assert all(k.startswith('stats_head.') for k in missing), missing
    losses = fit_statistics_head(late, *statistics_data(cc), seed=cc.seed)
    w = _drawing_workers()
    images, true = _items(controller_data(cc, 'val', cc.statistics_size, workers=w), w)
    said = []
    ccfg = calibrate_decoding(late.config, late, images, true, cc.set_sizes(), said.append)
    save_weights(_half_state(late.state_dict()), folder / 'controller' / 'controller.safetensors')
    replace(ccfg, pretrained=None).save(folder / 'controller' / 'controller.json')
    return {'crops': n, **HEAD, 'seed': cc.seed, 'loss': [losses[0], losses[-1]], 'calibration': said[0],
            'decoding': 'set' if ccfg.set_sizes else 'threshold', 'minutes': (time.time() - t0) / 60}


def controller_line(r: Restorer) -> str:
    "The card's line on the controller."
    c = r.controller
    n_c, n_tok = sum(p.numel() for p in c.parameters()), c.clip.token_embedding.weight.numel()
    return (f"- **Controller**: the tiny CLIP (64-px views, {n_c / 1e6:.2f} M parameters, {n_tok / 1e6:.2f} M of them "
            f"the text tower's token table) that names the degradations it sees ({len(c.config.names)} types) and "
            "steers the restorer" + (", with a statistics head that names them from measures of the native pixels "
                                     "(the CLIP's embeddings steer)." if c.stats_head is not None else "."))


def files_line(folder: Path) -> str:
    "The card's line on the files."
    files = {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob('*.safetensors'))}
    return ("- **Files** (float16 weights, loaded into float32): "
            + ', '.join(f"`{k}` {v / 2**20:.2f} MB" for k, v in files.items())
            + f"; {sum(files.values()) / 2**20:.2f} MB together.")


def head_line(head: dict) -> str:
    "The card's line on the statistics head given after training (`fit_head`)."
    return (f"- **Statistics head** (given after training: `--head {head['crops']}`, {head['minutes']:.1f} min): "
            f"fitted on {head['crops']} fresh crops of {head['statistics_size']} px drawn as the recipe's controller "
            f"draws its data ({head['statistics_photos']:.0%} of them cut from the photos alone; only what shows, "
            f"visible_db {head['visible_db']:g} dB), seed {head['seed']}; loss {head['loss'][0]:.3f} -> "
            f"{head['loss'][1]:.3f}; {head['calibration']}: {head['decoding']} decoding"
            + (f". Fitted again by the same code on the same machine: {head['reproduced']}." if head.get('reproduced')
               else "."))


def fill_line(r: Restorer) -> str:
    "The card's line on the model's way with missing regions."
    if r.fill == 'smooth':
        return ("- **Missing regions** (`fill: smooth`): where the controller names 'uncompleted', the pure-white "
                "holes are filled from the restored pixels around them (push-pull, notebook 12), not by the network's "
                "guess (bench/results/fill_cpu.md). `--fill network` gives the network's.")
    return "- **Missing regions**: as the network restored them (`--fill smooth` fills them from around)."


def blend_line(r: Restorer) -> str:
    "The card's line on the model's own blend."
    if r.blend == 'confidence':
        return ("- **Blend** `confidence`: it returns input + c·(restored − input), c the controller's confidence in "
                "what it detected, so an image it is unsure of stays near its input (`--blend none` for the raw "
                "restoration).")
    if r.blend == 'gate':
        return (f"- **Blend** `gate` at {r.gate_psnr:g} dB: it returns the input untouched when the restoration "
                f"changes it only a little, PSNR(restored, input) ≥ {r.gate_psnr:g} dB; the small changes it makes to "
                "images it cannot help gained nothing on average (bench/results/gate_cpu.md)"
                + (f"; and when the restoration brightens the image by more than {r.gate_brighten:g} on average while "
                   "the controller named neither low light nor shadow, which a dark photo (a star field on its "
                   "training photos) paid for with up to 16 dB (bench/results/gate_brighten_cpu.md, "
                   "gate_ssim_harm_cpu.md)"
                   if r.gate_brighten is not None else '')
                + ". `--blend none` gives the raw restoration (with `--fill network`: the network's own fill of "
                "missing regions too).")
    return ("- **Blend** `none`: the raw restoration (`--blend gate` returns the input when the restoration changes "
            "it little; `--blend confidence` moves from the input only as far as the controller is sure).")


def card(a, run: Path, folder: Path, rows: list, main_res, timing: dict | None, repro: dict | None,
         clean: list) -> str:
    cfg = json.loads((run / 'config.json').read_text())
    ccfg = json.loads((run / 'controller' / 'config.json').read_text())
    minutes = training_minutes(run)
    r = Restorer.from_folder(folder, device='cpu')
    n_b = sum(p.numel() for p in r.backbone.parameters())
    n_types = len(r.controller.config.names)
    photos = [p.name for p in sample_images('eval')]
    loss, harm = (("NAFNet's PSNR loss (each image's 10·log10(MSE), averaged: every image's dB count alike)",
                   "the dB lost by images made worse than their input") if cfg.get('pixel_loss') == 'psnr'
                  else ("L1", "pixels made worse than the input"))
    lines = [
        "# multideg default model", "",
        "The restorer `multideg restore photo.jpg -o out/` uses when no `--model` is given; `Restorer.default()` in "
        "Python; `multideg eval -o report/` evaluates it.", "",
        "## What it is", "",
        f"- **Restorer**: NAFNet-small (direct, one pass, {n_b / 1e6:.2f} M parameters) with DA-CLIP's prompt fusion.",
        controller_line(r), blend_line(r), fill_line(r), files_line(folder), "",
        "## How it was made", "",
        f"    {COMMAND}", "    python bench/default_model.py --run runs/default --pack", "",
        f"- Trained on: {a.trained_on}; torch {torch.__version__}, Python {platform.python_version()}. One training "
        f"thread (`OMP_NUM_THREADS=1`) and {cfg['num_workers']} data-loader worker(s).",
        f"- Time (estimated from the logs' timestamps): controller {minutes['controller']:.1f} min "
        f"({ccfg['steps']} steps), restorer {minutes['restorer']:.1f} min ({cfg['steps']} steps of "
        f"{cfg['batch_size']} crops of {cfg['patch_size']} px).",
        f"- Data: the embedded source — {cfg['count']} dead-leaves pictures and the training split of the bundled "
        f"photos — with {n_types} degradation types, " + ', '.join(f"{k} of them on {v:.0%}" for k, v in
                                                                  cfg['counts'].items()) + " of the images, made "
        "on the fly" + (f"; {cfg['highlights']:.0%} of the clean crops over-exposed (blown highlights, so that white "
                        "areas are not taken for the white holes of 'uncompleted')" if cfg.get('highlights') else "")
        + (f"; {cfg['grey']:.0%} of them made grey (black-and-white photos)" if cfg.get('grey') else "") + ".",
        f"- Loss: {loss} plus the \"do no harm\" term at weight {cfg['harm_weight']:g} ({harm})"
        + (f" and its SSIM twin at weight {cfg['ssim_harm']:g} (the local SSIM lost against the input's, "
           "bench/results/ssim_harm_cpu.md)" if cfg.get('ssim_harm') else "") + "; AdamW, lr "
        f"{cfg['lr']:g} with a cosine to {cfg['min_lr']:g}, EMA {cfg['ema_beta']}; the weights are the EMA's at the "
        "best validation PSNR.",
        "- The recipe (`RESTORATION_RECIPES['default']`): `" + json.dumps(RESTORATION_RECIPES['default']) + "`.",
    ]
    if repro:
        same = all(repro['identical'].values())
        lines.append(f"- Reproducible: retraining with the same command to step {repro['step']} gave "
                     + ("a bit-identical controller, restorer weights and EMA" if same
                        else f"different weights ({repro['identical']})")
                     + f" to the first training's at that step ({repro['minutes']:.0f} min on the same machine, "
                     f"`python bench/default_model.py --run runs/default --reproduce {repro['step']} --reference "
                     "COPY_OF_THAT_CHECKPOINT`). Another machine or thread count can round differently"
                     + (", and so does multideg's arithmetic since this check (notebook 05's LayerNorm, "
                        f"{ARITHMETIC}: the same weights' outputs moved by at most 5e-7; a retrain now differs in the "
                        "last bits)." if repro.get('arithmetic') != ARITHMETIC else "."))
    lines += [""] + measured_lines(a, folder, rows, main_res, clean, cfg.get('grey'),
                                   f"python bench/default_model.py --run runs/default --n {a.n} "
                                   f"--patch_size {a.patch_size}")
    return '\n'.join(lines + tail_lines(timing, len(photos))) + '\n'


def tail_lines(timing: dict | None, photos: int) -> list[str]:
    "The card's speed and limits sections."
    lines = speed_lines(timing) if timing else []
    lines += ["## Limits", "",
              "- Trained for minutes on a CPU at 64-px crops with a tiny controller: a starting point and a "
              "demonstration, not the paper's model. For DA-CLIP's own, use `--daclip` with `--irsde`.",
              "- The controller names the exact set of degradations on the share given above; the restorer is "
              "steered by its embeddings, not by the names.",
              f"- Synthetic degradations only; real photos differ. Held-out figures come from {photos} photos."]
    return lines


def measured_lines(a, folder: Path, rows: list, main_res, clean: list, grey: float | None, command: str) -> list[str]:
    "The card's held-out section: the rows, the tables of `main_res` (the first row's results), the clean images."
    photos = [p.name for p in sample_images('eval')]
    n_types = len(Restorer.from_folder(folder, device='cpu').controller.config.names)
    main = rows[0]
    combos = mark_worse(main_res.by_combination())
    worse = [c for c in combos[:-1] if c['worse']]
    lines = ["## Measured on held-out photos", "",
              f"{main['n']} pairs: the held-out photos ({', '.join(photos)}; never trained on), "
              f"{a.patch_size}-px centre crops, each degraded with 1 or 2 of the {n_types} types (preset `upto2`, "
              f"seed 0), {main['combinations']} combinations. Command: `{command}`.", "",
              "| model | images | PSNR input → restored | Δ PSNR | SSIM input → restored (Δ) | "
              "worst combination (Δ PSNR) | worst combination (Δ SSIM) | combinations worse | images worse (PSNR) | "
              "degradations named exactly |",
              "|---|---:|---|---:|---|---|---|---:|---:|---:|"]
    lines += [fmt_row(r) for r in rows]
    lines += ["", ("Worse than the input on average (PSNR or SSIM): " + '; '.join(
        f"{c['combination']} (n={c['n']}: {c['gain_psnr']:+.2f} dB, SSIM {c['gain_ssim']:+.4f})" for c in worse)
        if worse else "No combination comes out worse than its input on average (PSNR and SSIM)."), "",
        f"### By combination (the bundled model as it restores by default: {rows[0]['variant']})", "",
        markdown_table(combos, table_columns(main_res) + [('worse', 'worse than input')]), "",
        "### By degradation type (alone or combined)", "",
        markdown_table(main_res.by_type(), table_columns(main_res, 'type')), "",
        "### By held-out photo", "",
        markdown_table(by_photo(main_res), table_columns(main_res, 'photo') + [('worse', 'images worse (PSNR)'),
                                                                              ('much_worse', 'losing > 0.3 dB')]), ""]
    lines += ["### Images with nothing to restore", "",
              "PSNR of the output against the clean input (higher: less changed; `inf`: untouched): the held-out "
              "photos, whole, and scikit-image's grey pictures, which it never saw"
              + (f" ({grey:.0%} of its training crops were made grey)." if grey
                 else " (it trained on colour photos only)."),
              "", markdown_table([dict(r, psnr=round(r['psnr'], 2)) for r in clean],
                                 [('image', 'image'), ('size', 'size'), ('psnr', 'PSNR output vs input (dB)'),
                                  ('detected', 'detected')]), ""]
    return lines


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--run', help="the finished run folder of `multideg train --recipe default` "
                                  "(needed except with --timing_only)")
    ap.add_argument('--pack', action='store_true',
                    help='write the float16 pack into the package (multideg/models/default)')
    ap.add_argument('--dest', default=None, help='pack here instead (default: the package folder)')
    ap.add_argument('--blend', choices=BLENDS, default=None,
                    help="the packed model's own blend (default: the run's; with --remeasure: the package's)")
    ap.add_argument('--n', type=int, default=600, help='held-out pairs (default: %(default)s)')
    ap.add_argument('--patch_size', type=int, default=256)
    ap.add_argument('--no_timing', action='store_true')
    ap.add_argument('--timing_only', action='store_true',
                    help="only time the packed model again: the results' timing and the card's speed section")
    ap.add_argument('--timing_threads', type=int, default=2)
    ap.add_argument('--timing_size', type=int, default=1024)
    ap.add_argument('--reproduce', type=int, default=None, metavar='STEP')
    ap.add_argument('--reference', default=None, help='the first training checkpoint at STEP (a copy)')
    ap.add_argument('--results', default='bench/results/default_model_cpu.json')
    ap.add_argument('--trained_on', default=f"{cpu_name()}, {os.cpu_count()} cores, CPU only",
                    help="the machine the run trained on (default: this one's CPU, for a run made here)")
    ap.add_argument('--figure', default=None, help="the held-out set's first 4 images, restored (.jpg or .png)")
    ap.add_argument('--gate_psnr', type=float, default=None,
                    help="with --remeasure: the package's own gate threshold (dB; bench/gate.py calibrates it)")
    ap.add_argument('--gate_brighten', type=brighten_arg, default=None, metavar='RISE|off',
                    help="the package's own brightening rule (--pack, --remeasure): a mean rise in (0, 1), or off "
                         "(default: as it is)")
    ap.add_argument('--fill', choices=FILLS, default=None,
                    help="the package's own way with missing regions (--pack, --remeasure; default: as it is)")
    ap.add_argument('--head', type=int, default=None, metavar='N',
                    help="with --remeasure: first give the packed controller a statistics head fitted on N crops")
    ap.add_argument('--remeasure', action='store_true',
                    help="without the run: set the packed model's own blend (--blend), measure the package again "
                         "(its blends, the clean images, the timing) and rewrite the card's measured sections, "
                         "keeping how it was made")
    a = ap.parse_args()
    folder = Path(a.dest) if a.dest else default_model_folder()
    if a.head is not None and (not a.remeasure or a.head < 2):
        ap.error(f"--head: a number of crops >= 2, with --remeasure; got {a.head}" + ('' if a.remeasure else
                                                                                      ' without --remeasure'))
    if a.fill and not (a.pack or a.remeasure):
        ap.error("--fill: sets the package's own fill: with --pack or --remeasure")
    if a.gate_brighten is not None and not (a.pack or a.remeasure):
        ap.error("--gate_brighten: sets the package's own brightening rule: with --pack or --remeasure")
    if not (a.run or a.timing_only or a.remeasure):
        ap.error('--run: the run folder is needed (all but --timing_only and --remeasure)')
    if a.remeasure:
        rcfg = RestorerConfig.load(folder / 'restorer.json')
        new = replace(rcfg, blend=a.blend or rcfg.blend, fill=a.fill or rcfg.fill,
                      gate_psnr=rcfg.gate_psnr if a.gate_psnr is None else a.gate_psnr,
                      gate_brighten=rcfg.gate_brighten if a.gate_brighten is None else a.gate_brighten or None)
        try: Restorer.from_folder(folder, device='cpu', blend=new.blend, gate_brighten=a.gate_brighten)   # the checks
        except ValueError as e: ap.error(str(e))                                    # of a Restorer: one line, unsaved
        if new != rcfg:
            new.save(folder / 'restorer.json')
            print(f"{folder}: its own blend is now {new.blend!r}, gate {new.gate_psnr:g} dB, brightening rule "
                  f"{rule_text(new.gate_brighten)}, fill {new.fill!r} (was {rcfg.blend!r}, {rcfg.gate_psnr:g} dB, "
                  f"{rule_text(rcfg.gate_brighten)}, {rcfg.fill!r})")
        old = json.loads(Path(a.results).read_text()) if Path(a.results).is_file() else {}
        results = {k: old[k] for k in ('reproduce', 'head') if k in old}   # the same weights: the same checks
        if a.head:
            results['head'] = fit_head(folder, a.head)
            print(results['head'], flush=True)
        ds = eval_dataset('synthetic', preset='upto2', n=a.n, patch_size=a.patch_size, seed=0)
        r = Restorer.from_folder(folder, device='cpu')
        rows, main_res = measure_rows(
            [(f"bundled (float16 weights), {blend_label(b, r.gate_psnr)}" + (" (its own)" if b == r.blend else ''),
              folder, b) for b in (r.blend, *[b for b in BLENDS if b != r.blend])], ds, r.gate_psnr)
        results['rows'], results['clean'] = rows, clean_probe(folder)
        print(results['clean'])
        if not a.no_timing:
            with tempfile.TemporaryDirectory() as w:
                results['timing'] = time_large(folder, a.timing_size, 3, a.timing_threads, Path(w))
            print(results['timing'])
        elif 'timing' in old: results['timing'] = old['timing']
        atomic_write(a.results, json.dumps(results, indent=1))
        if a.figure: write_figure(a.figure, main_res)
        text = (folder / 'MODEL_CARD.md').read_text()
        again = (f"python bench/default_model.py --remeasure --blend {r.blend}"
                 + (f" --gate_psnr {r.gate_psnr:g}" if r.blend == 'gate' else '')
                 + (f" --gate_brighten {rule_text(r.gate_brighten)}"
                    if r.blend == 'gate' and r.gate_brighten != RestorerConfig.gate_brighten else '')
                 + f" --fill {r.fill}"
                 + (f" --head {results['head']['crops']}" if results.get('head') else ''))
        cmd = f"{again} --n {a.n} --patch_size {a.patch_size}"
        head = []                   # how it was made, kept: its blend line and the latest --remeasure command renewed
        renewed = {'- **Controller**': controller_line(r), '- **Blend**': blend_line(r) + '\n' + fill_line(r),
                   '- **Files**': files_line(folder)}
        for line in text[:text.index('## Measured on held-out photos\n')].split('\n'):
            if '--remeasure' in line or line.startswith(('- **Missing regions**', '- **Statistics head**')): continue
            head.append(next((v for k, v in renewed.items() if line.startswith(k)), line))
            if line.startswith('- The recipe (') and results.get('head'): head.append(head_line(results['head']))
            if line == "    python bench/default_model.py --run runs/default --pack":
                head.append(f"    {again}      # its own blend, fill and head; measured again without the run")
        head = '\n'.join(head)
        grey = RESTORATION_RECIPES['default'].get('grey')
        lines = measured_lines(a, folder, rows, main_res, results['clean'], grey, cmd)
        tail = tail_lines(results.get('timing'), len(list(sample_images('eval'))))
        atomic_write(folder / 'MODEL_CARD.md', head + '\n'.join(lines + tail) + '\n')
        print(f"model card: {folder / 'MODEL_CARD.md'}")
        sys.exit(0)
    if a.timing_only:
        results = json.loads(Path(a.results).read_text())
        with tempfile.TemporaryDirectory() as w:
            results['timing'] = time_large(folder, a.timing_size, 3, a.timing_threads, Path(w))
        print(results['timing'])
        text = (folder / 'MODEL_CARD.md').read_text()
        end = text.index('## Limits\n')                          # a card measured with --no_timing has no speed
        start = text.index('## Speed\n') if '## Speed\n' in text else end
        atomic_write(a.results, json.dumps(results, indent=1))
        speed = '\n'.join(speed_lines(results['timing'])) + '\n'
        atomic_write(folder / 'MODEL_CARD.md', text[:start] + speed + text[end:])
        sys.exit(0)
    run = Path(a.run)
    if a.pack:
        try:
            pack_restorer(run, folder, blend=a.blend, gate_psnr=a.gate_psnr, fill=a.fill, gate_brighten=a.gate_brighten)
        except ValueError as e: ap.error(str(e))                  # a bad option for this run: one line
        print(f"packed {run} into {folder}")
    with safe_open(str(folder / 'restorer.safetensors'), 'pt') as f: packed = {k: f.get_tensor(k) for k in f.keys()}
    if not all(torch.equal(packed[k], v.to(packed[k].dtype))
               for k, v in load_restorer(run).backbone.state_dict().items()):
        raise SystemExit(f"{folder} does not hold {run}'s weights: pack it (--pack)")
    old = json.loads(Path(a.results).read_text()) if Path(a.results).is_file() else {}
    results = {}        # only figures measured now, and a reproduce check of this very run
    if old.get('reproduce', {}).get('run_controller') == sha256(run / 'controller' / 'controller.safetensors'):
        results['reproduce'] = old['reproduce']
    if a.reproduce is not None:
        results['reproduce'] = reproduce(a.reproduce, Path(a.reference), run); print(results['reproduce'])
    ds = eval_dataset('synthetic', preset='upto2', n=a.n, patch_size=a.patch_size, seed=0)
    packed = Restorer.from_folder(folder, device='cpu')                      # the bundled model's own blend
    own, gate = packed.blend, packed.gate_psnr
    rows, main_res = measure_rows([(f'bundled (float16 weights), {blend_label(own, gate)}', folder, own),
                                   (f'the run (float32 weights), {blend_label(own, gate)}', run, own),
                                   *[(f'bundled, {blend_label(b, gate)}', folder, b) for b in BLENDS if b != own]],
                                  ds, gate)
    results['rows'] = rows
    results['clean'] = clean_probe(folder)
    print(results['clean'])
    if not a.no_timing:
        with tempfile.TemporaryDirectory() as w:
            results['timing'] = time_large(folder, a.timing_size, 3, a.timing_threads, Path(w))
        print(results['timing'])
    atomic_write(a.results, json.dumps(results, indent=1))
    if a.figure: write_figure(a.figure, main_res)
    text = card(a, run, folder, rows, main_res, results.get('timing'), results.get('reproduce'), results['clean'])
    atomic_write(folder / 'MODEL_CARD.md', text)
    print(f"model card: {folder / 'MODEL_CARD.md'}")

"""A demo's restorer and controller on more of the held-out photos (issue 23).

The `cpu` demo evaluated 9 degraded crops of the three held-out photos (per_photo 3, seed 0) until 2026-12-07: too
few to tell a recogniser that names 44% of the exact sets from one that names 63%, or one combination worse than its
input from seven; it now evaluates 120 (per_photo 40), and this bench gives a second sample of the same size. It
degrades the same photos' centre crops as the demo reads them (`HeldOutCrops` at its eval_size, `demo_sampler`:
1-2 of the 12 types, only what shows) --per_photo times each with another seed, restores them as the demo measured
(`demo_restorer`: its blend, the gate calibrated on pairs of the training photos) and reports the gain, the
combinations worse than their input on average (PSNR or SSIM), exact-set recognition (all, one and two degradations)
and, per type, how often it was missed or named where it was not.

    HF_HUB_OFFLINE=1 python bench/demo_held_out.py multideg-demo/cpu --per_photo 40 --seed 7 \\
        --out bench/results/demo_held_out_cpu.md
"""
import argparse, json, tempfile, time
from collections import Counter
from dataclasses import replace
from pathlib import Path


from multideg.core import atomic_write
from multideg.data import make_dataset
from multideg.demo import DemoConfig, HeldOutCrops, demo_restorer, demo_sampler
from multideg.inference import FILLS
from multideg.evaluate import eval_dataset, evaluate, markdown_table, mark_worse, restorer_fn, table_columns


def recognition(rows: list[dict]) -> dict:
    ("Exact-set recognition of evaluated rows (`combination`, `predicted`: names joined by '+'), all and by number of "
     "degradations, and per type the times it was missed (true, not named) and named wrongly (named, not true).")
    true = [set(r['combination'].split('+')) for r in rows]
    pred = [set(r['predicted'].split('+')) - {''} for r in rows]
    exact = [t == p for t, p in zip(true, pred)]
    by_n = {k: [e for e, t in zip(exact, true) if len(t) == k] for k in sorted({len(t) for t in true})}
    return {'exact': sum(exact) / len(exact), 'images': len(exact),
            'exact_by_count': {str(k): {'exact': sum(v) / len(v), 'images': len(v)} for k, v in by_n.items()},
            'missed': dict(Counter(n for t, p in zip(true, pred) for n in t - p).most_common()),
            'named_wrongly': dict(Counter(n for t, p in zip(true, pred) for n in p - t).most_common()),
            'present': dict(Counter(n for t in true for n in t).most_common())}


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('run', help="a demo's folder (its demo.json, controller/ and restorer/)")
    ap.add_argument('--per_photo', type=int, default=40,
                    help='degraded crops per held-out photo (default: %(default)s)')
    ap.add_argument('--seed', type=int, default=7, help="the degradations' seed, not the demo's (default: %(default)s)")
    ap.add_argument('--data', default=None, help='folder for the degraded set (default: a temporary one)')
    ap.add_argument('--fill', choices=FILLS, default=None,
                    help="missing regions: the demo's way (default) or this one")
    ap.add_argument('--out', default=None, help='Markdown report (and the same name .json)')
    a = ap.parse_args()
    run = Path(a.run)
    if not (run / 'demo.json').is_file(): ap.error(f"{run} holds no demo.json: give the folder of a finished demo")
    fill = {'fill': a.fill} if a.fill else {}
    cfg = replace(DemoConfig.load(run / 'demo.json'), out=str(run), **fill).resolved()
    if a.seed == cfg.seed: ap.error(f"--seed {a.seed} is the demo's own: its held-out set would be among these")
    if a.per_photo < 1: ap.error(f"--per_photo must be >= 1, got {a.per_photo}")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(a.data or tmp)
        make_dataset(data, HeldOutCrops(cfg.eval_size), sampler=demo_sampler(cfg), seed=a.seed, split='val',
                     per_image=a.per_photo, progress=False)
        restorer, gate = demo_restorer(cfg)
        ds = eval_dataset(data, patch_size=cfg.eval_size)
        res = evaluate(restorer_fn(restorer), ds, metrics=('psnr', 'ssim'), device=cfg.device, progress=False)
    rows = mark_worse(res.by_combination())
    if not all('predicted' in r for r in res.rows):
        raise SystemExit(f"{run}: its restorer has no controller (fusion none): nothing names the degradations")
    rec = recognition(res.rows)
    s = res.summary()
    worse = [r for r in rows[:-1] if r['worse']]
    demo = json.loads((run / 'summary.json').read_text()) if (run / 'summary.json').is_file() else {}
    out = {'run': str(run), 'seed': a.seed, 'per_photo': a.per_photo, 'images': s['n'], 'eval_size': cfg.eval_size,
           'blend': restorer.blend, 'fill': restorer.fill,
           'gate_psnr': restorer.gate_psnr if restorer.blend == 'gate' else None,
           'gain_psnr': s['gain_psnr'], 'input_psnr': s['input_psnr'], 'output_psnr': s['output_psnr'],
           'input_ssim': s['input_ssim'], 'output_ssim': s['output_ssim'], 'combinations': len(rows) - 1,
           'worse': [{'combination': r['combination'], 'n': r['n'], 'gain_psnr': r['gain_psnr'],
                      'gain_ssim': r['gain_ssim'], 'worse': r['worse']} for r in worse],
           'recognition': rec, 'minutes': (time.time() - t0) / 60,
           'demo_itself': {k: demo.get(k) for k in ('psnr_gain', 'recognised', 'images', 'worse_combinations')}}
    by_n = ', '.join(f"{v['exact']:.0%} of {v['images']} with {k}" for k, v in rec['exact_by_count'].items())
    types = [{'type': n, 'present': c, 'missed': rec['missed'].get(n, 0),
              'named wrongly': rec['named_wrongly'].get(n, 0)}
             for n, c in rec['present'].items()]
    lines = [f"# {run}: the demo's restorer and controller on {s['n']} held-out crops", "",
             f"{a.per_photo} degraded {cfg.eval_size}-px centre crops of each held-out photo (the demo's sampler, seed "
             f"{a.seed}; the demo itself: seed {cfg.seed}, {demo.get('images', '?')} crops), restored as the demo "
             f"measured (blend {restorer.blend}"
             + (f", gate {restorer.gate_psnr:g} dB" if restorer.blend == 'gate' else '') + f", fill {restorer.fill}), "
             f"{out['minutes']:.1f} min.", "",
             f"- PSNR {s['input_psnr']:.2f} -> {s['output_psnr']:.2f} dB (**{s['gain_psnr']:+.2f} dB**), SSIM "
             f"{s['input_ssim']:.3f} -> {s['output_ssim']:.3f}; the demo's own {demo.get('images', '?')}: "
             + (f"{demo['psnr_gain']:+.2f} dB" if demo.get('psnr_gain') is not None else '?') + ".",
             f"- Combinations worse than their input on average: **{len(worse)} of {len(rows) - 1}**"
             + (f" ({', '.join(r['combination'] + ': ' + r['worse'] for r in worse)})" if worse else '')
             + f"; the demo's own: {len(demo.get('worse_combinations') or [])}.",
             f"- Exact set recognised: **{rec['exact']:.0%}** of {rec['images']} ({by_n}); the demo's own: "
             + (f"{demo['recognised']:.0%}" if demo.get('recognised') is not None else '?') + ".", "",
             "## Per type: present, missed, named where it was not", "",
             markdown_table(types, [(k, k) for k in ('type', 'present', 'missed', 'named wrongly')]), "",
             "## By combination", "", markdown_table(rows, table_columns(res) + [('worse', 'worse than input')]), ""]
    text = '\n'.join(lines)
    print(text)
    if a.out:
        atomic_write(a.out, text)
        atomic_write(Path(a.out).with_suffix('.json'), json.dumps(out, indent=1) + '\n')

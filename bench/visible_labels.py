"""How many labels nothing in the pixels supports, per degradation type, before and after `visible_db` (issue 23).

A label is invisible when removing that degradation from its image changes it by PSNR >= --db (dB): `visibility`
re-applies the image's records without it, independently of the sampler's own check. Three distributions of the
demo's default (cpu) profile, each drawn --n times with 1-2 of the 12 types (DEMO_COUNTS):
  held-out  the held-out photos' 256-px centre crops (HeldOutCrops), as the demo's evaluation reads them
  restorer  64-px training crops of the embedded source (sample photos and dead leaves), as the restorer trains
  head      256-px training crops of the photos alone, as half of the statistics head's fitting crops
'before': DegradationSampler without a visibility check (the demo until 2026-12-07); 'after': visible_db=--db.

    python bench/visible_labels.py --n 300 --out bench/results/visible_labels_cpu.json
"""
import argparse, json, time
from collections import Counter
import torch
from multideg.data import SyntheticPairs, recipe_source
from multideg.degradations import NAMES, DegradationSampler, visibility
from multideg.demo import DEMO_COUNTS, HeldOutCrops

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument('--n', type=int, default=300, help='images per distribution and sampler')
p.add_argument('--db', type=float, default=30.0, help='visibility threshold (dB), the demo profiles\' visible_db')
p.add_argument('--threads', type=int, default=1)
p.add_argument('--out', default=None, help='JSON file for the figures')
a = p.parse_args()
torch.set_num_threads(a.threads)

def held_out(sampler, n):
    crops = HeldOutCrops(256)
    for i in range(n):
        g = torch.Generator().manual_seed(i)
        x = crops.load(i % len(crops))
        _, recs = sampler.apply(x[None], [sampler.draw(1, g)[0]], g)
        yield x, recs[0]

def pairs(source, size, sampler, n, seed):
    ds = SyntheticPairs(source, sampler, size, length=n, seed=seed, scene_size=None, degrade='loader')
    for i in range(n):
        it = ds[i]
        yield it['gt'], it['records']

dists = {'held-out': lambda s: held_out(s, a.n),
         'restorer': lambda s: pairs(recipe_source('embedded', 'train', count=96, size=96), 64, s, a.n, 1),
         'head': lambda s: pairs(recipe_source('samples', 'train'), 256, s, a.n, 2)}
samplers = {'before': DegradationSampler(counts=DEMO_COUNTS), 'after': DegradationSampler(counts=DEMO_COUNTS, visible_db=a.db)}
res = {}
for dname, make in dists.items():
    for sname, sampler in samplers.items():
        t0 = time.time()
        labels, hidden, per_image = Counter(), Counter(), Counter()
        for x, recs in make(sampler):
            v = visibility(x, recs)
            per_image[len(recs)] += 1
            for s in recs:
                labels[s['name']] += 1
                hidden[s['name']] += v[s['name']] >= a.db
        res[f'{dname} {sname}'] = {
            'images': a.n, 'labels': sum(labels.values()), 'invisible': sum(hidden.values()),
            'invisible_share': sum(hidden.values()) / max(1, sum(labels.values())),
            'images_by_count': dict(sorted(per_image.items())),
            'per_type': {k: {'labels': labels[k], 'invisible': hidden[k]} for k in NAMES if labels[k]},
            'seconds': time.time() - t0}
        r = res[f'{dname} {sname}']
        print(f"{dname:9s} {sname:6s}: {r['invisible']:3d} of {r['labels']:3d} labels invisible "
              f"({100 * r['invisible_share']:.1f}%); images by count {r['images_by_count']}; {r['seconds']:.0f} s",
              flush=True)
print("\nper type, invisible labels before -> after (of the labels drawn):")
print(f"{'type':16s}" + ''.join(f"{d:>22s}" for d in dists))
for k in NAMES:
    cells = []
    for d in dists:
        b, af = res[f'{d} before']['per_type'].get(k), res[f'{d} after']['per_type'].get(k)
        cells.append(f"{b['invisible'] if b else 0}/{b['labels'] if b else 0} -> {af['invisible'] if af else 0}/{af['labels'] if af else 0}")
    print(f"{k:16s}" + ''.join(f"{c:>22s}" for c in cells))
if a.out:
    with open(a.out, 'w') as f: json.dump({'args': vars(a), 'torch': torch.__version__, 'results': res}, f, indent=1)

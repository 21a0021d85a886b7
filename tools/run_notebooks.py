#!/usr/bin/env python
"""Run notebooks top to bottom and keep their outputs, as a reader on GitHub should see them.

Cells that `nbdev_test` skips by default (`#| slow`, `#| gpu`, `#| interactive`, `#| eval: false`) are skipped here
too and keep no output, as is the closing `nbdev.nbdev_export()` cell; warnings and other stderr text are dropped
(no logs in committed notebooks); figures are stored as PNG at 72 dpi and recompressed. The notebook is then cleaned
with `nbdev_clean`.

    python tools/run_notebooks.py nbs/06_sde.ipynb [more notebooks]   # rewrites them in place
    python tools/run_notebooks.py --check nbs/*.ipynb                 # sizes only: each < 1 MB, all < 6 MB
    python tools/run_notebooks.py --front-page                        # only the front page's figures, from outputs

The front page (index.ipynb) shows a few of the notebooks' figures: running a notebook also writes those of its
figures to nbs/images/ (`FRONT_PAGE`: file -> notebook, cell id, the cell's n-th image), so they stay in step.
"""
import argparse, base64, io, json, os, subprocess, sys
from pathlib import Path

MAX_NB, MAX_ALL = 1_000_000, 6_000_000
NBS = Path(__file__).resolve().parent.parent / 'nbs'
FRONT_PAGE = {
    'degradations.png': ('01_degradations.ipynb', 'd8ad5df2', 0),     # the twelve degradations on one photo
    'forward_sde.png': ('06_sde.ipynb', '9945f164', 1),               # x_t going from the photo to mu + noise
    'samplers.png': ('06_sde.ipynb', '37ac15fc', 0),                  # the samplers on a tiny trained network
    'tiled_restore.png': ('12_restore.ipynb', '0707d852', 0),         # whole vs tiled restoration, the seam check
}

def _flags(cell) -> set:
    "The directive flags of a code cell (`#| slow` → {'slow'}; `#| eval: false` → {'eval: false'})."
    out = set()
    for line in cell.source.splitlines():
        if not line.startswith('#|'): break
        d = line[2:].strip().lower()
        out.add('eval: false' if d.replace(' ', '') == 'eval:false' else d.split()[0] if d else '')
    return out

def _skipped(cell, flags) -> bool:
    "Cells `nbdev_test` would skip: flagged ones, `eval: false`, and the closing `nbdev_export()` (it exports all)."
    return cell.cell_type == 'code' and (bool(_flags(cell) & (flags | {'eval: false'}))
                                         or 'nbdev_export(' in cell.source)

def _small_png(b64: str) -> str:
    "A PNG recompressed (optimised; a large one as a 256-colour palette image)."
    from PIL import Image
    im = Image.open(io.BytesIO(base64.b64decode(b64)))
    buf = io.BytesIO(); im.save(buf, 'PNG', optimize=True)
    if buf.tell() > 120_000 and im.mode in ('RGB', 'RGBA'):
        buf = io.BytesIO(); im.convert('RGB').quantize(256).save(buf, 'PNG', optimize=True)
    return base64.b64encode(buf.getvalue()).decode() if buf.tell() < len(b64) * 3 // 4 else b64

def _tidy(cell):
    "Drop stderr streams and shrink PNGs in a cell's outputs."
    outs = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream' and o.get('name') == 'stderr': continue
        data = o.get('data', {})
        if 'image/png' in data: data['image/png'] = _small_png(data['image/png'])
        outs.append(o)
    cell['outputs'] = outs

def run(path: Path, flags: set, timeout: int | None = None):
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    nb = read_nb(path)
    for c in nb.cells:
        if c.cell_type == 'code': c.outputs, c.execution_count = [], None
    shell = CaptureShell(path.parent, mpl_format='png', timeout=timeout)
    shell.run_cell("import matplotlib as _mpl; _mpl.rcParams['figure.dpi'] = 72")
    was = Path.cwd()
    os.chdir(path.parent)
    try: shell.run_all(nb, exc_stop=True, preproc=lambda c: _skipped(c, flags))
    finally: os.chdir(was)
    for c in nb.cells:
        if c.cell_type == 'code':
            if _skipped(c, flags): c.outputs = []
            _tidy(c)
    write_nb(nb, path)
    subprocess.run(['nbdev_clean', '--fname', str(path)], check=True)
    for f in front_page(path): print(f"front page figure {f}")

def front_page(path: Path) -> list[Path]:
    "Write the front page's figures that come from notebook `path` (its stored outputs) to nbs/images/."
    nb, written = json.loads(path.read_text()), []
    for fname, (name, cell_id, n) in FRONT_PAGE.items():
        if name != path.name: continue
        cell = next((c for c in nb['cells'] if c.get('id') == cell_id), None)
        pngs = [o['data']['image/png'] for o in (cell or {}).get('outputs', []) if 'image/png' in o.get('data', {})]
        if len(pngs) <= n:
            raise SystemExit(f"{path}: cell {cell_id} has no figure #{n} for the front page's {fname}: "
                             "update FRONT_PAGE in tools/run_notebooks.py")
        out = NBS / 'images' / fname
        out.write_bytes(base64.b64decode(pngs[n])); written.append(out)
    return written

def check(paths) -> int:
    sizes = {p: p.stat().st_size for p in paths}
    for p, s in sizes.items(): print(f"{s / 1e6:6.2f} MB  {p}" + ('  TOO LARGE' if s > MAX_NB else ''))
    total = sum(sizes.values())
    print(f"{total / 1e6:6.2f} MB  all" + ('  TOO LARGE' if total > MAX_ALL else ''))
    return int(total > MAX_ALL or any(s > MAX_NB for s in sizes.values()))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*', type=Path)
    ap.add_argument('--front-page', action='store_true', help="only write the front page's figures from the outputs")
    ap.add_argument('--check', action='store_true', help='only report the sizes against the budget')
    ap.add_argument('--skip', default='slow gpu interactive', help='flags whose cells are not run')
    a = ap.parse_args()
    if a.front_page:
        for f in sorted({NBS / v[0] for v in FRONT_PAGE.values()}):
            for out in front_page(f): print(f"front page figure {out}")
        sys.exit(0)
    if not a.notebooks: ap.error('name the notebooks to run')
    if a.check: sys.exit(check(a.notebooks))
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('MPLBACKEND', 'Agg')
    for p in a.notebooks:
        print(f"running {p}", flush=True)
        run(p.resolve(), set(a.skip.split()))
    check(a.notebooks)

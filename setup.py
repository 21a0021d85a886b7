"""Packaging for multideg: every setting comes from settings.ini (the nbdev 2 convention)."""
from configparser import ConfigParser
from pathlib import Path

import setuptools

here = Path(__file__).parent
config = ConfigParser(delimiters=['='])
config.read(here / 'settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

required = 'version description keywords author author_email license git_url min_python lib_path'.split()
missing = [k for k in required if not cfg.get(k)]
if missing: raise ValueError(f"settings.ini is missing the keys: {', '.join(missing)}")

licenses = {'apache2': ('Apache-2.0', 'License :: OSI Approved :: Apache Software License'),
            'mit': ('MIT', 'License :: OSI Approved :: MIT License')}
lic_name, lic_classifier = licenses[cfg['license']]
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
min_python = cfg['min_python']
py_versions = [v for v in '3.10 3.11 3.12 3.13 3.14'.split() if tuple(map(int, v.split('.'))) >= tuple(map(int, min_python.split('.')))]

requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
extras = {}  # optional extras: `extra:requirement` pairs, e.g. `metrics:lpips>=0.1.4`
for item in cfg.get('extra_requirements', '').split():
    name, _, req = item.partition(':')
    if not req: raise ValueError(f"settings.ini extra_requirements: expected 'extra:requirement', got {item!r}")
    extras.setdefault(name, []).append(req)
console_scripts = cfg.get('console_scripts', '').split()
lib_path = cfg['lib_path']

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=(here / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    license=lic_name,
    url=cfg['git_url'],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title(),
                 lic_classifier,
                 'Topic :: Scientific/Engineering :: Image Processing',
                 'Topic :: Scientific/Engineering :: Artificial Intelligence'] +
                ['Programming Language :: Python :: ' + v for v in py_versions],
    packages=setuptools.find_packages(include=[lib_path, lib_path + '.*']),
    include_package_data=True,
    python_requires='>=' + min_python,
    install_requires=requirements,
    extras_require={'dev': dev_requirements, **extras},
    entry_points={'console_scripts': console_scripts,
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    zip_safe=False,
)

"""Maps the top-level folders onto the import package `spot` (DESIGN §2).

`spot.runtime` = runtime/, `spot.sim` = sim/, `spot.trainer` = trainer/, `spot.export` = export/. Subpackages are
found, not listed, so a new folder with an `__init__.py` ships without touching packaging. Everything else is in
pyproject.toml.
"""

from setuptools import find_packages, setup

PACKAGE_FOLDERS = {
    "spot.runtime": "runtime",
    "spot.sim": "sim",
    "spot.trainer": "trainer",
    "spot.export": "export",
}

packages = []
for package, folder in PACKAGE_FOLDERS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=PACKAGE_FOLDERS)

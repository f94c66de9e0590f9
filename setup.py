"""Shim for tools that still call setup.py; all metadata lives in pyproject.toml.

The one thing done here: wheels carry the repository's cfg templates (sweeps included)
and proto files (the authors' ``proto/authors/*.proto`` included) as package data
(``pytorch_kaldi_snn/data/{cfg,proto}``), so ``install-into`` and the proto lookup work
from a plain ``pip install`` too. Editable installs read them from the checkout instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# folder of this repository -> the files of it shipped (pyproject's package-data
# lists the same files under data/)
DATA = (("cfg", "**/*.cfg"), ("proto", "**/*.proto"))


def copy_data(target: Path) -> list:
    """Copy the DATA files into ``target`` (``.../pytorch_kaldi_snn/data``), keeping
    their folders; return the paths written."""
    written = []
    for name, pattern in DATA:
        for src in sorted((ROOT / name).glob(pattern)):
            dst = target / name / src.relative_to(ROOT / name)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            written.append(dst)
    return written


class BuildWithTemplates(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        copy_data(Path(self.build_lib) / "pytorch_kaldi_snn" / "data")


setup(cmdclass={"build_py": BuildWithTemplates})

"""Shim for tools that still call setup.py; all metadata lives in pyproject.toml.

The one thing done here: wheels carry the repository's cfg templates and proto files as
package data (``pytorch_kaldi_snn/data/{cfg,proto}``), so ``install-into`` and the proto
lookup work from a plain ``pip install`` too. Editable installs read them from the
checkout instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithTemplates(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "pytorch_kaldi_snn" / "data"
        for name, pattern in (("cfg", "**/*.cfg"), ("proto", "*.proto")):
            for src in (ROOT / name).glob(pattern):
                dst = target / name / src.relative_to(ROOT / name)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)


setup(cmdclass={"build_py": BuildWithTemplates})

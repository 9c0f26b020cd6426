"""Packaging beyond setup.cfg: the vSphere Client plugin's manifest (plugin.json, its icons and i18n strings)
lives once, at the top of the repository (``plugin-manifest/``, where an admin reads it), and the wheel
carries a copy as ``vsguesttruth/web/plugin/``, where ``vsguesttruth.web.manifest`` finds it installed."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MANIFEST = Path(__file__).resolve().parent / "plugin-manifest"


class build_py_with_manifest(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib, "vsguesttruth", "web", "plugin")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(MANIFEST, target)


setup(cmdclass={"build_py": build_py_with_manifest})

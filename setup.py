"""The one build setting pyproject.toml cannot state stably: the optional C extension.

Everything else is in pyproject.toml. (setuptools' ``[tool.setuptools.ext-modules]`` is
still marked experimental, so the extension is declared here.)
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        # The legacy reader's C fast path. Optional: without a compiler the build goes on
        # and every pickle takes the slower, equally safe Python walk (see _fastpath.py).
        Extension(
            "safeops.serialize.legacy._fastscan",
            ["safeops/serialize/legacy/_fastscan.c"],
            optional=True,
        )
    ]
)

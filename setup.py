"""Package discovery; every other setting is in pyproject.toml.

Every package under ``gerec/`` is found, never listed by hand. The Typer app lives in
``./cli`` but installs as ``gerec_cli``, so no bare ``cli`` package lands in site-packages
(setuptools' declarative discovery cannot rename a folder, hence this file).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["gerec", "gerec.*"]), "gerec_cli"],
    package_dir={"gerec_cli": "cli"},
)

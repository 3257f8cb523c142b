"""List every sub-package under its installed name: a wheel only holds what is listed."""

from setuptools import find_packages, setup

SOURCES = {"core": "datayard.core", "gui": "datayard.gui", "cli": "datayard.cli"}

packages = ["datayard.resources"]
for folder, name in SOURCES.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(where=folder)]

setup(packages=packages)

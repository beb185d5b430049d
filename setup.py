"""Package discovery for setuptools (the metadata is in pyproject.toml).

Every package under planner/ and dashboard/ (data folders such as dashboard/live/queries too, as namespace
packages carrying their .sql files), plus examples/ installed as ``planner.examples``: the dashboard's presets
are read from the example plans, in a clone and in an installed copy alike.
"""

from setuptools import find_namespace_packages, setup

PACKAGES = find_namespace_packages(include=["planner", "planner.*", "dashboard", "dashboard.*", "pool_planner"],
                                   exclude=["*.__pycache__"])

setup(packages=[*PACKAGES, "planner.examples"], package_dir={"planner.examples": "examples"})

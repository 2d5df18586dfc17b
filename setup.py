"""Package list only (the rest is in pyproject.toml): the library's packages as found, plus the service,
whose repository folder ``service/`` installs under the import name ``faultdx_service``."""

from setuptools import find_packages, setup

SERVICE = ["faultdx_service"] + [f"faultdx_service.{p}" for p in find_packages("service")]

setup(packages=find_packages(include=["faultdx", "faultdx.*"]) + SERVICE)

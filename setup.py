"""Package list only (the rest is in pyproject.toml): the library's packages as found; the service, whose
repository folder ``service/`` installs as ``faultdx_service``; models/ as ``faultdx.shipped`` (its package
data in pyproject.toml: the default model only)."""

from setuptools import find_namespace_packages, find_packages, setup

SERVICE_PARTS = find_namespace_packages("service", exclude=["*__pycache__*"])
SERVICE = ["faultdx_service"] + [f"faultdx_service.{p}" for p in SERVICE_PARTS]

setup(
    packages=find_packages(include=["faultdx", "faultdx.*"]) + SERVICE + ["faultdx.shipped"],
    package_dir={"faultdx_service": "service", "faultdx.shipped": "models"},
)

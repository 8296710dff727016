"""The installed version of the service, for build-info metrics and the OpenAPI document."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("badges-service")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown"

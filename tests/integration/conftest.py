"""Fixtures for the tests of the deployable artefacts (the worker image, compose)."""

from __future__ import annotations

import pytest

from tests.infra.image import BuiltImage, build_worker_image


@pytest.fixture(scope="session")
def worker_image(request: pytest.FixtureRequest) -> BuiltImage:
    """The worker image of this source tree: built once, then found by its source hash."""
    built = build_worker_image()
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nworker image: {built.name} ready in {built.seconds:.1f}s")
    return built

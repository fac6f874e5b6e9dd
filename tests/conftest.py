"""Shared fixtures. Tests use real models: tiny-llama for speed, the default model for integration."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _exports(tmp_path_factory):
    """Keep test output out of the user's exports/ unless the caller chose a place."""
    if "WORKBENCH_EXPORTS" not in os.environ:
        os.environ["WORKBENCH_EXPORTS"] = str(tmp_path_factory.mktemp("exports"))
    yield


@pytest.fixture(scope="session")
def tiny():
    from workbench.models import get_generator

    return get_generator("tiny-llama")


@pytest.fixture(scope="session")
def smol():
    from workbench.models import get_generator

    return get_generator("smollm2-135m-instruct")

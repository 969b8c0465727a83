import os

import pytest
import torch

# Test models are tiny: one thread is as fast, and much faster when other work shares the cores
# (OpenMP threads spin-wait for a busy core).
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    """Task data and trained proxies go to a cache of the test session, never the user's."""
    os.environ["ARCHBENCH_CACHE"] = str(tmp_path_factory.mktemp("archbench-cache"))


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """A cache of this test alone (for tests that check what gets written or reused)."""
    monkeypatch.setenv("ARCHBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def write_yaml(tmp_path):
    """Write a YAML text into a fresh registry folder and return the folder."""

    def write(text: str, name: str = "variants.yaml"):
        folder = tmp_path / "reg"
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(text)
        return folder

    return write

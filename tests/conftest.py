import os

import pytest
import torch

# Tests are small; two threads keep them from fighting each other on a 2-core machine.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def write_yaml(tmp_path):
    """Write a YAML text into a fresh registry folder and return the folder."""
    def write(text: str, name: str = "variants.yaml"):
        folder = tmp_path / "reg"
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(text)
        return folder
    return write

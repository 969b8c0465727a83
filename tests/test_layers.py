"""The package's shape: layers enforced by import-linter, modules of one job (issue 12)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 450


def test_layers_contract_holds():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    proc = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


def test_every_subpackage_says_what_it_owns():
    for init in sorted((ROOT / "suite").glob("*/__init__.py")):
        doc = init.read_text().lstrip()
        assert doc.startswith('"""'), f"{init.relative_to(ROOT)} has no docstring saying what it owns"


def test_no_module_over_the_size_of_one_job():
    big = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "suite").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not big, f"modules over {MAX_MODULE_LINES} lines (split them by job): {big}"

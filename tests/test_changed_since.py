"""`archbench run --changed-since REF`: the variants whose resolved definition changed in git, and only those."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import suite
from suite.config import ConfigError
from suite.run.changes import changed_code, changed_variants

ROOT = Path(__file__).resolve().parent.parent

VARIANTS_A = """\
ci-root:
  base: gpt2-small
  d_model: 256
  n_layers: 4
  n_heads: 4
ci-child:            # inherits d_model from ci-root
  base: ci-root
  n_layers: 2
ci-wide:             # overrides everything ci-root's change touches
  base: ci-root
  d_model: 512
  n_heads: 8
"""
VARIANTS_B = """\
ci-other:
  base: gpt2-small
  n_layers: 3
"""
SUITE = """\
scale: full
variants: [ci-root, ci-child, ci-wide, ci-other]
probes:
  - probe: analytic
    settings: {context: [128]}
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with a registry folder `variants/` and a suite over its four variants."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, {"variants/a.yaml": VARIANTS_A, "variants/b.yaml": VARIANTS_B, "suite.yaml": SUITE}, "one")
    monkeypatch.chdir(repo)
    return repo


def changed(repo) -> dict[str, str]:
    return changed_variants("HEAD~1", [repo / "variants"]).changed


def cli(cwd: Path, *args: str):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "suite.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


# ------------------------------------------------------------------ acceptance: the command
def test_changed_since_runs_exactly_the_changed_variant_and_its_dependants(repo):
    commit(repo, {"variants/a.yaml": VARIANTS_A.replace("d_model: 256", "d_model: 128")}, "narrower root")
    done = cli(
        repo, "run", "--suite", "suite.yaml", "--registry", "variants", "--changed-since", "HEAD~1", "--out", "out"
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (repo / "out" / "results.jsonl").read_text().splitlines()]
    assert {r["variant"] for r in rows} == {"ci-root", "ci-child"}  # not ci-wide (overrides d_model), not ci-other
    assert all(r["status"] == "ok" for r in rows)
    assert "2 of " in done.stderr and "ci-root (its entry changed: d_model)" in done.stderr
    assert "ci-child (inherits from ci-root, which changed)" in done.stderr
    assert "running 2 of 4 planned cells" in done.stderr
    record = json.loads((repo / "out" / "run.json").read_text())
    assert record["selection"]["variants"] == ["ci-child", "ci-root"]
    assert record["args"]["changed_since"] == git(repo, "rev-parse", "HEAD~1").strip()  # a commit: resume is stable
    assert (repo / "out" / "report.html").exists()


def test_nothing_changed_runs_nothing_and_still_exits_0(repo):
    commit(repo, {"README": "docs only\n"}, "docs")
    done = cli(repo, "run", "--suite", "suite.yaml", "--registry", "variants", "--changed-since", "HEAD~1")
    assert done.returncode == 0, done.stderr
    assert "no variant's resolved definition changed" in done.stderr
    assert "running 0 of 4 planned cells" in done.stderr
    assert "no report: nothing has run" in done.stdout


@pytest.mark.parametrize(
    "where, args, expected",
    [
        ("outside", ("--changed-since", "HEAD~1"), "is not inside a git checkout"),
        ("repo", ("--changed-since", "no-such-branch"), "'no-such-branch' is not a commit of the git repository"),
    ],
)
def test_no_checkout_or_unknown_ref_is_one_paragraph_and_exit_2(repo, tmp_path, where, args, expected):
    cwd = repo if where == "repo" else tmp_path / "elsewhere"
    cwd.mkdir(exist_ok=True)
    done = cli(cwd, "run", "--suite", str(repo / "suite.yaml"), "--registry", str(repo / "variants"), *args)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


# ------------------------------------------------------------------ what counts as a change
def test_a_moved_reordered_or_reformatted_entry_is_not_a_change(repo):
    moved = textwrap.dedent(
        """\
        # ci-other moved here from b.yaml, keys reordered, flow style
        ci-other: {n_layers: 3, base: gpt2-small}
        """
    )
    commit(repo, {"variants/a.yaml": "# reformatted\n" + VARIANTS_A.replace("  ", "    "), "variants/b.yaml": ""}, "x")
    commit(repo, {"variants/c/moved.yaml": moved}, "moved")
    assert changed_variants("HEAD~2", [repo / "variants"]).changed == {}


def test_a_new_field_in_a_base_reaches_every_variant_that_inherits_it(repo):
    commit(repo, {"variants/a.yaml": VARIANTS_A.replace("  n_heads: 4\n", "  n_heads: 4\n  norm: rmsnorm\n", 1)}, "x")
    assert changed(repo) == {
        "ci-root": "its entry changed: norm",
        "ci-child": "inherits from ci-root, which changed",
        "ci-wide": "inherits from ci-root, which changed",
    }


def test_new_and_removed_variants(repo):
    commit(repo, {"variants/b.yaml": "ci-new:\n  base: gpt2-small\n  n_layers: 5\n"}, "replace ci-other")
    selection = changed_variants("HEAD~1", [repo / "variants"])
    assert selection.changed == {"ci-new": "new since REF"}
    assert selection.new == ["ci-new"] and selection.removed == ["ci-other"]
    assert "removed since HEAD~1 (nothing to run): ci-other" in selection.notes


def test_uncommitted_edits_count(repo):
    (repo / "variants" / "b.yaml").write_text(VARIANTS_B.replace("n_layers: 3", "n_layers: 6"))
    assert changed_variants("HEAD", [repo / "variants"]).changed == {"ci-other": "its entry changed: n_layers"}


def test_a_registry_that_did_not_load_at_ref_makes_every_variant_changed(repo):
    commit(repo, {"variants/b.yaml": VARIANTS_B + "broken: [\n"}, "broken")
    commit(repo, {"variants/b.yaml": VARIANTS_B}, "fixed")
    selection = changed_variants("HEAD~1", [repo / "variants"])
    assert set(selection.changed) >= {"ci-root", "ci-child", "ci-wide", "ci-other", "gpt2-small"}
    assert "does not load" in selection.notes[0]


# ------------------------------------------------------------------ component code
def test_component_code_counts_and_other_code_does_not(repo, monkeypatch):
    """`suite` taken to live in the test repository, so its component paths are diffed there."""
    commit(repo, {"suite/__init__.py": "", "suite/model/attn.py": "x = 1\n", "suite/report/html.py": "y = 1\n"}, "code")
    monkeypatch.setattr(suite, "__file__", str(repo / "suite" / "__init__.py"))
    commit(repo, {"suite/report/html.py": "y = 2\n"}, "report only")
    assert changed_code(repo, git(repo, "rev-parse", "HEAD~1").strip()) == []
    (repo / "suite" / "analytic").mkdir()
    (repo / "suite" / "analytic" / "new_cost.py").write_text("z = 1\n")  # untracked counts too
    commit(repo, {"suite/model/attn.py": "x = 2\n"}, "component")
    selection = changed_variants("HEAD~1", [repo / "variants"])
    assert selection.code == ["suite/analytic/new_cost.py", "suite/model/attn.py"]
    assert set(selection.changed) >= {"ci-root", "ci-other", "gpt2-small"}
    assert "component code changed (suite/analytic/new_cost.py, suite/model/attn.py)" in selection.describe()


def test_code_outside_the_repository_is_not_diffed(repo):
    """The archbench under test lives outside the test repository: its code cannot have changed there."""
    assert changed_code(repo, git(repo, "rev-parse", "HEAD").strip()) == []


def test_errors_raise_config_errors(repo, tmp_path):
    with pytest.raises(ConfigError, match="'HEAD~5' is not a commit"):
        changed_variants("HEAD~5", [repo / "variants"])
    elsewhere = tmp_path / "plain"
    elsewhere.mkdir()
    with pytest.raises(ConfigError, match="not inside a git checkout"):
        changed_variants("HEAD", [repo / "variants"], cwd=elsewhere)


def test_resume_keeps_the_commit_ref_named(repo, capsys):
    from suite.cli import main

    commit(repo, {"variants/b.yaml": VARIANTS_B.replace("n_layers: 3", "n_layers: 4")}, "deeper other")
    args = ["run", "--suite", "suite.yaml", "--registry", "variants", "--out", "out", "--no-report"]
    first = git(repo, "rev-parse", "HEAD~1").strip()
    assert main([*args, "--changed-since", "HEAD~1"]) == 0
    commit(repo, {"variants/a.yaml": VARIANTS_A.replace("d_model: 256", "d_model: 128")}, "later")
    assert main([*args, "--resume"]) == 0  # HEAD~1 now names another commit; the recorded one is kept
    record = json.loads((repo / "out" / "run.json").read_text())
    assert record["selection"]["commit"] == record["args"]["changed_since"] == first
    assert record["selection"]["variants"] == ["ci-child", "ci-other", "ci-root"]  # all changed since `first`
    capsys.readouterr()
    assert main([*args, "--resume", "--changed-since", "HEAD~1"]) == 2
    assert "--changed-since differs" in capsys.readouterr().err

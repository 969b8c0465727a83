"""`.github/workflows/variants.yml`: it parses, runs on variant pull requests, every archbench command it
runs exists in our CLI with those flags, and its inline script reads the run.json `run` writes."""

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from suite.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "variants.yml"
OPERATORS = set("();<>|&")
# values for the shell variables the commands use (a word list where the shell splits one)
PLACEHOLDERS = {"VARIANTS": ["gpt2-small", "ladder/02-rope"], "RUNNER_TEMP": ["/tmp/runner"]}


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def env_of(workflow) -> dict[str, str]:
    env = {}
    for job in workflow["jobs"].values():
        env.update(job.get("env") or {})
    return {k: str(v) for k, v in env.items()}


def shell_lines(script: str) -> list[str]:
    """The script's command lines: continuations joined, heredoc bodies and comments left out."""
    lines, heredoc = [], None
    for line in script.replace("\\\n", " ").splitlines():
        if heredoc is not None:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        marker = re.search(r"<<-?\s*'?(\w+)'?", line)
        heredoc = marker.group(1) if marker else None
        if line.strip() and not line.strip().startswith("#"):
            lines.append(line)
    return lines


def expand(token: str, env: dict[str, str]) -> list[str]:
    """A shell word with its variables replaced by the workflow's values (or placeholders)."""
    name = re.fullmatch(r"\$\{?(\w+)\}?", token)
    if name and name.group(1) in PLACEHOLDERS:
        return PLACEHOLDERS[name.group(1)]

    def value(m):
        v = env.get(m.group(1), "X")
        return "X" if "${{" in v else v

    return [re.sub(r"\$\{?(\w+)\}?", value, token)]


def archbench_commands(workflow) -> list[list[str]]:
    """Every `archbench ...` invocation in the workflow's `run:` scripts, as an argv after `archbench`."""
    env, found = env_of(workflow), []
    for step in steps(workflow):
        for line in shell_lines(step.get("run", "")):
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
            for i, token in enumerate(tokens):
                if token != "archbench":
                    continue
                argv = []
                for word in tokens[i + 1 :]:
                    if set(word) <= OPERATORS:
                        break
                    argv.extend(expand(word, {**env, **{k: str(v) for k, v in (step.get("env") or {}).items()}}))
                found.append(argv)
    return found


def test_the_workflow_runs_on_pull_requests_that_touch_the_registry(workflow):
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "architectures/**" in on["pull_request"]["paths"]
    assert all(re.fullmatch(r"[\w-]+/[\w/-]+@v\d+", s["uses"]) for s in steps(workflow) if "uses" in s)
    checkout = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # --changed-since needs the base commit


def test_every_archbench_command_exists_with_its_flags(workflow):
    parser = build_parser()
    commands = archbench_commands(workflow)
    assert [c[0] for c in commands] == ["run", "run", "compare", "report"]
    parsed = []
    for argv in commands:
        try:
            parsed.append(parser.parse_args(argv))
        except SystemExit:
            pytest.fail(f"`archbench {' '.join(argv)}` is not a valid archbench command line")
    pr, base, compare, report = parsed
    assert pr.changed_since == "X" and pr.variants == ["all"] and pr.out == "results/pr" and pr.no_report
    assert base.variants == PLACEHOLDERS["VARIANTS"] and base.suite == pr.suite == "quick"
    assert (compare.baseline, compare.candidate) == (base.out, pr.out) and compare.markdown
    assert compare.fail_on == "regression"
    assert report.dirs == [pr.out] and report.out.endswith(".html")


def test_the_verdict_reaches_the_job_summary_and_the_report_is_uploaded(workflow):
    scripts = "\n".join(s.get("run", "") for s in steps(workflow))
    assert 'cat "$RUNNER_TEMP/compare.md" >> "$GITHUB_STEP_SUMMARY"' in scripts
    assert 'exit "$status"' in scripts  # compare's exit status fails the job
    upload = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "artifacts/report.html" in upload["with"]["path"]
    cache = [s["uses"].split("@")[0] for s in steps(workflow) if "actions/cache" in s.get("uses", "")]
    assert cache == ["actions/cache/restore", "actions/cache/save"]


def test_the_selection_step_reads_what_run_records(workflow, tmp_path):
    """The inline script of the selection step, run by bash on a run.json shaped as `run` writes it."""
    step = next(s for s in steps(workflow) if s.get("id") == "selection")
    (tmp_path / "results" / "pr").mkdir(parents=True)
    selection = dict(
        commit="0123456789abcdef",
        variants=["ci-child", "ci-new", "ci-root"],
        new=["ci-new"],
        why={"ci-child": "inherits from ci-root, which changed", "ci-new": "new since REF", "ci-root": "its entry"},
        code=[],
    )
    (tmp_path / "results" / "pr" / "run.json").write_text(json.dumps({"selection": selection}))
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["ran"] == "3" and outputs["variants"] == "ci-child ci-root" and len(outputs["key"]) == 16
    assert "- `ci-child`: inherits from ci-root, which changed" in summary.read_text()
    assert "- `ci-new`: new since REF (new)" in summary.read_text()

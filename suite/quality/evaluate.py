"""`archbench eval`: a variant, a training folder or an HF checkpoint on lm-eval tasks, through
`suite.quality.lm_eval_adapter.ArchbenchLM`; results printed as lm-eval's table and written as strict JSON."""

from __future__ import annotations

from pathlib import Path

from suite.config import ConfigError
from suite.quality.lm_eval_adapter import ArchbenchLM, task_manager


def run_eval(
    spec: str,
    tasks: list[str],
    *,
    scale: str | None = None,
    checkpoint: str | None = None,
    tokenizer: str | None = None,
    limit: float | None = None,
    num_fewshot: int | None = None,
    batch_size: int = 8,
    device: str | None = None,
    dtype: str = "float32",
    overflow: str = "fail",
    include_path=(),
    metadata: dict | None = None,
    bootstrap_iters: int = 1000,
    gen_kwargs: str | None = None,
    registry=(),
    seed: int = 0,
    log_samples: bool = False,
) -> dict:
    """Evaluate a variant / checkpoint folder on lm-eval tasks; passkey lengths follow its training context."""
    import lm_eval

    from suite.quality.training import is_trained

    folder = Path(spec)
    if folder.is_dir() and not is_trained(folder) and (folder / "summary.json").is_file():
        raise ConfigError(f"{spec} holds several training runs; evaluate one of: {_selected(folder / 'summary.json')}")
    lm = ArchbenchLM(
        spec,
        checkpoint=checkpoint,
        scale=scale,
        tokenizer=tokenizer,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        overflow=overflow,
        registry=":".join(registry) or None,
        seed=seed,
    )
    meta = {"context_length": lm.max_length, **(metadata or {})}
    manager = task_manager(tasks, include_path, meta)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        import difflib

        hints = {t: difflib.get_close_matches(t, manager.all_tasks, n=3) for t in unknown}
        raise ConfigError(
            "unknown task(s): "
            + "; ".join(f"{t}" + (f" (did you mean {', '.join(h)}?)" if h else "") for t, h in hints.items())
            + ". `archbench eval --list-tasks` lists ours."
        )
    return lm_eval.simple_evaluate(
        model=lm,
        tasks=tasks,
        task_manager=manager,
        limit=limit,
        num_fewshot=num_fewshot,
        bootstrap_iters=bootstrap_iters,
        gen_kwargs=gen_kwargs,
        log_samples=log_samples,
    )


def list_tasks() -> None:
    from suite.registry import data_dir

    for path in sorted(data_dir("tasks").glob("*.yaml")):
        first = next((line[2:].strip() for line in path.read_text().splitlines() if line.startswith("# ")), "")
        print(f"{path.stem:24s} {first}")


def print_eval(results: dict, output: str | None = None) -> None:
    from lm_eval.utils import make_table

    print(make_table(results))
    info = results.get("config", {})
    counts = info.get("archbench_overflow_counts") or {}
    if counts:
        print(
            f"{sum(counts.values())} request(s) needed more than the {info.get('archbench_position_limit')} "
            f"learned positions and were scored as failures ({', '.join(f'{k}: {v}' for k, v in counts.items())})."
        )
    if output:  # strict JSON (a NaN score is null) written atomically: a failed write keeps an earlier file
        from suite.safeio import atomic_write_text, dumps

        slim = {k: v for k, v in results.items() if k != "samples"}
        atomic_write_text(output, dumps(slim, indent=2) + "\n", "evaluation results")
        print(f"wrote {output}")


def _selected(summary_file: Path) -> str:
    """The checkpoints a training summary selected, for the 'evaluate one of' hint."""
    from suite.safeio import load_json

    data = load_json(summary_file, "training summary")
    selected = data.get("selected") if isinstance(data, dict) else None
    if not isinstance(selected, list) or not selected:
        return "its lr<LR>-seed<S> folders (no run was selected; see summary.json)"
    return ", ".join(str(x) for x in selected)

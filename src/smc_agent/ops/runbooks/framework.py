"""Runbook steps and the runner.

A step: ``precondition`` (None = go, :class:`Skip` = nothing to do, any other text = blocked),
``action`` (returns its output), ``verification`` (None = verified, text = the problem),
``rollback`` (undo when this or a later step fails). Destructive steps ask for confirmation;
``dry_run`` evaluates the (read-only) preconditions and shows what would be done, changing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smc_agent.ops.incidents.priority import Priority

Check = Callable[["RunContext"], "str | None"]
Act = Callable[["RunContext"], str]


class Skip(str):
    """A precondition result meaning "already in the wanted state: skip this step"."""


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    action: Act
    verification: Check | None = None
    precondition: Check | None = None
    rollback: Act | None = None
    destructive: bool = False
    kubectl: str = ""


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    priority: Priority
    steps: tuple[Step, ...]
    category: str = "general"


@dataclass
class RunContext:
    """What steps may use; built by the caller (CLI) from the container."""

    actor: str
    services: Any  # the container-like object: trading_control, failover, kv, session_factory, settings
    params: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # steps share findings here


@dataclass
class StepResult:
    step: str
    status: str  # done | skipped | blocked | would-run | aborted | failed | rolled-back
    output: str = ""
    kubectl: str = ""


@dataclass
class RunResult:
    runbook: str
    dry_run: bool
    results: list[StepResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        final = {r.status for r in self.results}
        for bad in ("failed", "blocked", "aborted"):
            if bad in final:
                return bad
        return "dry-run" if self.dry_run else "completed"


class RunbookRunner:
    def __init__(
        self,
        *,
        confirm: Callable[[Step], bool],
        record: Callable[[StepResult], None],
        echo: Callable[[str], None],
    ) -> None:
        self._confirm = confirm
        self._record = record
        self._echo = echo

    def _emit(self, result: StepResult, run: RunResult) -> None:
        run.results.append(result)
        self._echo(f"[{result.status}] {result.step}: {result.output}".rstrip(": "))
        if not run.dry_run or result.status == "blocked":
            self._record(result)

    def run(self, runbook: Runbook, ctx: RunContext, *, dry_run: bool = False) -> RunResult:
        run = RunResult(runbook.name, dry_run)
        done: list[Step] = []
        for step in runbook.steps:
            self._echo(f"== {step.name}: {step.description}")
            if step.kubectl:
                self._echo(f"   cluster equivalent: {step.kubectl}")
            problem = _safe(step.precondition, ctx)
            if isinstance(problem, Skip):
                self._emit(StepResult(step.name, "skipped", str(problem), step.kubectl), run)
                continue
            if problem is not None:
                self._emit(
                    StepResult(step.name, "blocked", f"precondition not met: {problem}", step.kubectl), run
                )
                return run
            if dry_run:
                tag = " (destructive: asks for confirmation)" if step.destructive else ""
                self._emit(StepResult(step.name, "would-run", step.description + tag, step.kubectl), run)
                continue
            if step.destructive and not self._confirm(step):
                self._emit(
                    StepResult(step.name, "aborted", "not confirmed; nothing changed", step.kubectl), run
                )
                return run
            try:
                output = step.action(ctx)
                problem = _safe(step.verification, ctx)
            except Exception as exc:
                output, problem = "", f"{exc.__class__.__name__}: {exc}"
            if problem is None:
                done.append(step)
                self._emit(StepResult(step.name, "done", output, step.kubectl), run)
                continue
            self._emit(
                StepResult(
                    step.name,
                    "failed",
                    f"{output} | verification failed: {problem}".strip(" |"),
                    step.kubectl,
                ),
                run,
            )
            self._roll_back([*done, step], ctx, run)
            return run
        return run

    def _roll_back(self, steps: list[Step], ctx: RunContext, run: RunResult) -> None:
        for step in reversed(steps):
            if step.rollback is None:
                continue
            try:
                output = step.rollback(ctx)
                self._emit(StepResult(step.name, "rolled-back", output, step.kubectl), run)
            except Exception as exc:
                self._emit(
                    StepResult(
                        step.name, "failed", f"rollback failed: {exc.__class__.__name__}: {exc}", step.kubectl
                    ),
                    run,
                )


def _safe(check: Check | None, ctx: RunContext) -> str | None:
    if check is None:
        return None
    try:
        return check(ctx)
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"

"""Progress of a bulk run: a live display on a terminal, one plain line per event otherwise.

Both write to stderr (stdout carries the summary table or JSON). Device-code prompts go through
`message` so they appear above the live display instead of being overwritten by it.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from .. import environment
from .report import SUCCEEDED, TenantOutcome


class PlainProgress:
    """Line per tenant event; for logs, CI and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or environment.current().err()
        self.total = self.done = self.failed = self.running = 0

    def start(self, total: int) -> None:
        self.total = total

    def set_total(self, total: int) -> None:
        """The number of tenants, once known (--all-customers: after Partner Center answered)."""
        self.total = total

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def tenant_started(self, tenant: str) -> None:
        self.running += 1
        self._write(f"start    {tenant}")

    def tenant_finished(self, outcome: TenantOutcome) -> None:
        self.running = max(0, self.running - 1)
        ok = outcome.status == SUCCEEDED
        self.done += ok
        self.failed += not ok
        n = self.done + self.failed
        detail = (f"client {outcome.client_id}" if ok and outcome.client_id else (outcome.error or outcome.status))
        took = f", {outcome.duration_s:.1f} s" if outcome.duration_s is not None else ""
        self._write(f"{outcome.status:<8} {outcome.tenant} [{n}/{self.total}] {detail}{took}")

    def message(self, text: str) -> None:
        self._write(text.rstrip("\n"))

    def stop(self) -> None:
        return None


class LiveProgress:
    """A rich progress bar: done / failed / running and ETA."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.console = Console(file=stream or environment.current().err())
        self.progress = Progress(TextColumn("[bold]onboarding"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[counts]}"),
                                 TextColumn("ETA"), TimeRemainingColumn(),
                                 console=self.console, transient=False)
        self.done = self.failed = self.running = 0
        self.task: TaskID = TaskID(0)  # set by start()
        self.started = environment.clock().monotonic()

    def _counts(self) -> str:
        return f"[green]{self.done} done[/] [red]{self.failed} failed[/] {self.running} running"

    def start(self, total: int) -> None:
        self.task = self.progress.add_task("bulk", total=total, counts=self._counts())
        self.progress.start()

    def set_total(self, total: int) -> None:
        """The number of tenants, once known (--all-customers: after Partner Center answered)."""
        self.progress.update(self.task, total=total)

    def tenant_started(self, tenant: str) -> None:
        self.running += 1
        self.progress.update(self.task, counts=self._counts())

    def tenant_finished(self, outcome: TenantOutcome) -> None:
        self.running = max(0, self.running - 1)
        if outcome.status == SUCCEEDED:
            self.done += 1
        else:
            self.failed += 1
            self.progress.console.print(f"[red]failed[/] {outcome.tenant}: {outcome.error}", markup=True,
                                        highlight=False)
        self.progress.update(self.task, advance=1, counts=self._counts())

    def message(self, text: str) -> None:
        self.progress.console.print(text.rstrip("\n"), markup=False, highlight=False)

    def stop(self) -> None:
        self.progress.stop()


class PromptStream:
    """A TextIO-like sink that forwards whole lines to the progress display, prefixed."""

    def __init__(self, progress: PlainProgress | LiveProgress, prefix: str = "") -> None:
        self.progress = progress
        self.prefix = prefix
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self.progress.message(self.prefix + line)
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self.progress.message(self.prefix + self._buffer)
            self._buffer = ""

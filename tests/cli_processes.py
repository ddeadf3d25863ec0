"""CLI processes for the kill and signal tests, forked from a warm parent (a "zygote").

A `python -m kodo_provision.cli.main` spends ~0.6 s of CPU importing the package, msgraph and
azure-identity before its first request, and the kill and interrupt matrices start some fifty of them
(a quarter of `make test`'s CPU, issue 17). The zygote imports the package once per test worker and
forks a child per command. The child is a real process: it runs the same `main(argv)` as
`python -m kodo_provision.cli.main` (cli/main.py's `__main__` block), in the test's working directory
and environment, with its own stdout and stderr, with Python's default SIGINT handling, and it ends as
that interpreter would (SystemExit, non-daemon threads joined, atexit, or death by the signal). Only the
imports happen before the fork. The README walkthrough, the interactive (pty) tests and the meta tests
still start the CLI exactly as users do.

The zygote also learns: a child that ends through SystemExit lists the modules it imported (the
SDK's request builders and models load lazily, on a command's first call), and the zygote imports them
before the next fork, so later children start where the first one finished.

Run as `python -m tests.cli_processes`: one request per line on stdin (JSON: argv, cwd, env, stdout,
stderr, modules), answered on stdout with {"pid"} at once and {"returncode"} when the child has ended; the child is
reaped only on {"reap": pid}, once the test has read its end.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


# The package's modules a command does not import: the simulator (a test's) and the two commands that start one.
_NOT_COMMAND_MODULES = ("kodo_provision.simulator", "kodo_provision.cli.demo", "kodo_provision.cli.simulate")


def _warm() -> None:
    """Import what a command imports: every module of the package but the simulator's and the two commands
    that start one (walked without importing the packages left out, as pkgutil.walk_packages would)."""
    import importlib
    import pkgutil
    import threading

    import kodo_provision

    pending = [(kodo_provision.__path__, "kodo_provision.")]
    while pending:
        path, prefix = pending.pop()
        for module in pkgutil.iter_modules(path, prefix):
            if module.name.startswith(_NOT_COMMAND_MODULES):
                continue
            imported = importlib.import_module(module.name)
            if module.ispkg:
                pending.append((imported.__path__, module.name + "."))
    assert threading.active_count() == 1, "a fork must not happen with other threads running"


# Never learned from a child either: what it ran as __main__, and the tests' own modules.
_NOT_LEARNED = (*_NOT_COMMAND_MODULES, "__main__", "tests")


def _modules_listed(path: str) -> list[str]:
    """The modules a child named at its end; none if it died by a signal."""
    try:
        return Path(path).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return []


def _learn(names: list[str]) -> None:
    """Import what a finished child imported and the zygote has not."""
    import importlib
    import threading

    for name in names:
        if name not in sys.modules and not name.startswith(_NOT_LEARNED):
            with contextlib.suppress(Exception):
                importlib.import_module(name)
    assert threading.active_count() == 1, "a learned import started a thread: the next fork would be unsafe"


def _list_modules_at_exit(path: str) -> None:
    """In the child: at its end (SystemExit, atexit), name the modules it has imported."""
    def write() -> None:
        with contextlib.suppress(OSError):
            Path(path).write_text("\n".join(sorted(sys.modules)), encoding="utf-8")

    atexit.register(write)


def _run_child(request: dict[str, Any]) -> None:
    """In the forked child: become `kodo-provision ARGV` (never returns: SystemExit ends the process)."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT),
                            (2, request["stderr"], os.O_WRONLY | os.O_CREAT)):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)  # the process holds 0, 1 and 2 only, as a started one does
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's stdin from now on
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = [str(REPO / "kodo_provision" / "cli" / "main.py"), *request["argv"]]
    _list_modules_at_exit(request["modules"])
    from kodo_provision.cli.main import main

    raise SystemExit(main(request["argv"]))


def _returncode(pid: int) -> int:
    """Wait for the child's end without reaping it (the test may still signal it, as a Popen parent may
    signal its unreaped child); as subprocess reports it: the exit status, or minus the ending signal."""
    ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    assert ended is not None
    return ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status


def serve() -> None:
    """The zygote's loop: fork a child per request, one at a time, report its pid and its end, and reap it
    once the test has read the end ({"reap": pid})."""
    _warm()
    for line in sys.stdin:
        request = json.loads(line)
        if "reap" in request:
            os.waitpid(request["reap"], 0)
            continue
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _run_child(request)
        print(json.dumps({"pid": pid}), flush=True)
        returncode = _returncode(pid)
        modules = _modules_listed(request["modules"])  # before the answer: then the test removes the outputs
        print(json.dumps({"returncode": returncode}), flush=True)
        _learn(modules)


class _Zygote:
    """The test side: the warm parent process of one test worker."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.cli_processes"], cwd=str(REPO), env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=False)
        self._buffer = b""
        self.busy = False

    def send(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout: float | None) -> dict[str, Any] | None:
        """The next answer, or None if none came within `timeout` seconds."""
        assert self.proc.stdout is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.proc.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"the CLI zygote ended (exit {self.proc.wait()})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_ZYGOTE: _Zygote | None = None


def _zygote() -> _Zygote:
    global _ZYGOTE
    if _ZYGOTE is None or _ZYGOTE.proc.poll() is not None:
        _ZYGOTE = _Zygote()
        atexit.register(_ZYGOTE.close)
    return _ZYGOTE


def _abandon_zygote() -> None:
    """After an answer that never came: the next CLI process gets a new zygote (the old one's pipe may
    still hold a late answer)."""
    global _ZYGOTE
    if _ZYGOTE is not None:
        _ZYGOTE.proc.kill()
        _ZYGOTE = None


class CliProcess:
    """A running `kodo-provision ARGV` (the part of subprocess.Popen the tests use, and `stop`)."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self._zygote = _zygote()
        assert not self._zygote.busy, "one CLI process at a time per test worker"
        self._outputs = Path(tempfile.mkdtemp(prefix="kodo-cli-"))
        self._zygote.send({"argv": argv, "cwd": str(cwd), "env": env, "stdout": str(self._outputs / "stdout"),
                           "stderr": str(self._outputs / "stderr"), "modules": str(self._outputs / "modules")})
        self._zygote.busy = True
        started = self._zygote.read(timeout=60)
        if started is None:
            _abandon_zygote()
            raise AssertionError("the CLI zygote did not fork in time")
        self.pid: int = started["pid"]
        self.returncode: int | None = None
        self._texts = ("", "")

    def poll(self) -> int | None:
        """The exit status if the process has ended, else None."""
        if self.returncode is None:
            self._ended(timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end; subprocess.TimeoutExpired after `timeout` seconds."""
        if self.returncode is None and not self._ended(timeout):
            raise subprocess.TimeoutExpired("kodo-provision", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def _ended(self, timeout: float | None) -> bool:
        answer = self._zygote.read(timeout)
        if answer is None:
            return False
        self.returncode = answer["returncode"]
        self._texts = self._read_outputs()
        self._zygote.send({"reap": self.pid})  # only now may the pid go: nothing signals it any more
        self._zygote.busy = False
        return True

    def _read_outputs(self) -> tuple[str, str]:
        texts = tuple(path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
                      for path in (self._outputs / "stdout", self._outputs / "stderr"))
        shutil.rmtree(self._outputs, ignore_errors=True)
        return texts[0], texts[1]

    def send_signal(self, signum: int) -> None:
        """Signal the process unless it has ended (as Popen.send_signal: until the end has been read, the
        pid is the child's, unreaped)."""
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end; its stdout and stderr."""
        self.wait(timeout)
        return self._texts

    def signal_when(self, ready: Callable[[], bool], signum: int, *, budget_s: float, settle_s: float = 0.0,
                    answer_within_s: float = 120) -> tuple[str, str]:
        """Send `signum` once `ready()` holds (then `settle_s` later: the test fails if that moment does not
        come within `budget_s`); stdout and stderr once the process has ended. The process is stopped
        whatever happens."""
        try:
            deadline = time.monotonic() + budget_s
            while not ready():
                assert self.poll() is None, f"the command ended before the signal: {self.communicate()[1][-500:]}"
                assert time.monotonic() < deadline, f"the moment to signal never came within {budget_s} s"
                time.sleep(0.02)
            time.sleep(settle_s)
            self.send_signal(signum)
            return self.communicate(timeout=answer_within_s)  # a bound, not a speed test
        finally:
            self.stop()

    def stop(self) -> None:
        """For a test's cleanup: kill the process if it still runs and wait for it; should that fail (the
        zygote gone or silent), kill the process directly and start over with a new zygote."""
        try:
            if self.poll() is None:
                self.kill()
                self.wait(timeout=10)
        except (RuntimeError, subprocess.TimeoutExpired, OSError):
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            _abandon_zygote()
            shutil.rmtree(self._outputs, ignore_errors=True)


if __name__ == "__main__":
    serve()

"""Running `billing-batch` in a process of its own that can be killed with SIGKILL.

`run_child` forks this (already imported) test process and runs the CLI in the child, in a process
group of its own: starting costs milliseconds instead of the 1.5 s of importing the application,
which is what lets the crash tests kill dozens of runs in CI. The child is a real process: it is
killed by the kernel (a `faults` point, or `kill_after` seconds), its render workers are its own
children, and whatever it left behind is what the next run finds. `run_exec` starts the real
installed command instead, for the tests that want nothing of this process in the child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from billing_batch.faults import ENV as KILL_AT


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None  # None when killed
    signal: int | None
    pgid: int

    @property
    def killed(self) -> bool:
        return self.signal == signal.SIGKILL


def run_child(args: list[str], env: dict[str, str] | None = None, kill_after: float | None = None,
              log: Path | None = None, timeout: float = 300, before=None) -> Outcome:
    """Run `billing-batch ARGS` in a forked child; `env` is added to its environment (e.g.
    {KILL_AT: "sql:40"}); `before` is called in the child first (e.g. to lower a threshold)."""
    def cli() -> int:
        os.environ.update(env or {})
        if before is not None:
            before()
        from billing_batch import cli

        cli.console.file, cli.err_console.file = sys.stdout, sys.stderr
        try:
            cli.main([str(a) for a in args], prog_name="billing-batch")
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return 0

    return fork_call(cli, kill_after, log, timeout)


def fork_call(fn, kill_after: float | None = None, log: Path | None = None, timeout: float = 300) -> Outcome:
    """`fn()` in a forked child in a process group of its own; its return value is the exit code."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            os.setpgid(0, 0)
            out = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(out, 1)
            os.dup2(out, 2)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            code = fn()
        except BaseException:  # noqa: BLE001 - report it through the exit code, never return
            import traceback

            traceback.print_exc()
            code = 71
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    try:
        os.setpgid(pid, pid)  # also here, so the group exists before we signal it
    except OSError:
        pass
    return _wait(pid, kill_after, timeout)


def run_exec(args: list[str], env: dict[str, str] | None = None, kill_after: float | None = None,
             log: Path | None = None, timeout: float = 300) -> Outcome:
    """The installed `billing-batch` in a fresh interpreter, in a process group of its own."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-c", "from billing_batch.cli import main; main()", *args],
                            env={**os.environ, **(env or {})}, stdout=out, stderr=out, start_new_session=True)
    try:
        return _wait(proc.pid, kill_after, timeout, proc)
    finally:
        if log:
            out.close()


def _wait(pid: int, kill_after: float | None, timeout: float, proc=None) -> Outcome:
    start = time.monotonic()
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            if proc is not None:
                proc.returncode = 0  # reaped here; keep Popen from waiting again
            if os.WIFSIGNALED(status):
                return Outcome(None, os.WTERMSIG(status), pid)
            return Outcome(os.WEXITSTATUS(status), None, pid)
        elapsed = time.monotonic() - start
        if kill_after is not None and elapsed >= kill_after:
            os.kill(pid, signal.SIGKILL)  # the run only: its workers must notice by themselves
            kill_after = None
        elif elapsed > timeout:
            os.killpg(pid, signal.SIGKILL)
            raise TimeoutError(f"billing-batch did not finish within {timeout} s")
        time.sleep(0.005)


def live_processes(pgid: int, wait: float = 3.0) -> list[int]:
    """Processes still alive in the killed run's process group (orphaned render workers), after
    giving them `wait` seconds to notice that their parent is gone."""
    deadline = time.monotonic() + wait
    while True:
        alive = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == pgid:
                        stat = (entry / "stat").read_text()
                        if stat.rsplit(")", 1)[1].split()[0] != "Z":  # zombies are dead already
                            alive.append(int(entry.name))
                except (OSError, ValueError):
                    continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def reap(pgid: int) -> None:
    """Kill whatever is left of a killed run's process group (so a failing test cannot leave
    orphans holding the test run's output open)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


__all__ = ["KILL_AT", "Outcome", "fork_call", "live_processes", "reap", "run_child", "run_exec"]

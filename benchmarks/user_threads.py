"""What running as the user costs: user threads against shared threads and the process lock.

    sudo python -m benchmarks.user_threads                  # 4 sessions, 20000 stats each
    sudo python -m benchmarks.user_threads --sessions 8 --calls 5000 --user nobody

Runs as root. Each of *sessions* tasks makes *calls* runner calls of
``os.stat`` on a file the user may read, the way a session's filesystem work
goes through its runner, with three runners:

* ``threads``: Trio's shared worker threads (a virtual-user server: no switch);
* ``user-threads``: a :class:`~trioftp.userthreads.UserThreadRunner` per
  session, threads that are the user (what ``UnixAuthorizer`` gives);
* ``impersonating``: :class:`~trioftp.session.runner.ImpersonatingRunner`
  with ``UnixAuthorizer.impersonate_user`` around each call, one call at a
  time in the process (the fallback where threads can't switch alone).

It prints the calls per second over all sessions (the median of *rounds*).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import trio

from trioftp.authorizers import UnixAuthorizer
from trioftp.session.runner import ImpersonatingRunner, Runner, ThreadRunner
from trioftp.userthreads import UserThreadRunner


async def _calls_per_second(runners: list[Runner], calls: int, path: str) -> float:
    async def session(runner: Runner) -> None:
        for _ in range(calls):
            await runner.run(os.stat, path)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for runner in runners:
            nursery.start_soon(session, runner)
    return len(runners) * calls / (time.perf_counter() - start)


def _setups(user: str, sessions: int) -> dict[str, Callable[[], list[Runner]]]:
    authorizer = UnixAuthorizer(require_valid_shell=False)
    shared = ThreadRunner()
    return {
        "threads": lambda: [shared] * sessions,
        "user-threads": lambda: [UserThreadRunner(user) for _ in range(sessions)],
        "impersonating": lambda: [
            ImpersonatingRunner(shared, authorizer, user, "") for _ in range(sessions)
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--user", default="nobody")
    options = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("run it as root: it switches threads to --user")
    with tempfile.NamedTemporaryFile(dir="/tmp") as target:  # /tmp: every user may search it
        os.chmod(target.name, 0o644)
        results: dict[str, list[float]] = {}
        for _ in range(options.rounds):
            for name, make in _setups(options.user, options.sessions).items():
                runners = make()
                rate = trio.run(_calls_per_second, runners, options.calls, target.name)
                results.setdefault(name, []).append(rate)
                for runner in runners:
                    close = getattr(runner, "close", None)
                    if close is not None:
                        close()
    print(f"{options.sessions} sessions x {options.calls} os.stat calls, as {options.user!r}")
    for name, rates in results.items():
        print(f"  {name:<14} {statistics.median(rates):>10,.0f} calls/s")


if __name__ == "__main__":
    main()

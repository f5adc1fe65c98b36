"""Timing a render for tests: CPU time of the rendering thread, with a wall-clock hang bound.

A template's budget bounds the work it makes the process do. Measured as the CPU time of the
thread that renders (``time.thread_time``), that work does not grow when other processes share
the machine; wall-clock time does (a test run beside others on two busy cores once took 1.1 s of
wall clock for a 0.1 s budget). Renders run in the calling thread, regex timeouts included, so
nothing escapes the measure. A wall-clock bound stays as well, wide enough for a loaded machine,
to catch a render that waits instead of working.

A full garbage collection runs before the clocks start: otherwise the collection that earlier
tests' garbage has made due can fall inside the measure (once 0.7 s of CPU for a render that
takes 5 ms on its own). What the render itself allocates is still collected, and counted.
"""

from __future__ import annotations

import gc
import time

HANG = 10.0  # wall-clock seconds: only a render that waits rather than works comes near this


class Timed:
    """CPU time of this thread and wall-clock time spent inside the ``with`` block."""

    def __enter__(self) -> Timed:
        gc.collect()
        self.cpu, self.wall = time.thread_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.thread_time() - self.cpu
        self.wall = time.perf_counter() - self.wall

    def assert_within(self, cpu_seconds: float) -> None:
        assert self.cpu < cpu_seconds, f"{self.cpu:.3f} s of CPU (wall {self.wall:.3f} s)"
        assert self.wall < HANG, f"{self.wall:.3f} s of wall clock (CPU {self.cpu:.3f} s)"

"""Progress as data: what the build's workers report, and the one place that prints it.

Workers (executing or exporting a notebook, in other processes) send
:class:`Event` records through a queue; the main process alone writes the
terminal, through a :class:`Reporter`:

- on a terminal, a live line per notebook (cells done of total, elapsed time);
- elsewhere (CI, a log file), plain whole lines that never interleave, with a
  progress line at most every :data:`PLAIN_PROGRESS_EVERY_S` seconds per notebook.

The same events are saved with the build (``build/executed/timings.json``), so
the benchmark reads times from data, never from the log.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, TextIO

#: Event kinds, in the order a notebook goes through them.
KINDS = ("up_to_date", "queued", "started", "kernel_retry", "cell", "executed", "failed", "exported", "export_failed")
PLAIN_PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True)
class Event:
    kind: str
    notebook: str
    wall: float = field(default_factory=time.time)  # seconds since the epoch, comparable across processes
    cell: int | None = None  # cells finished so far
    cells: int | None = None  # cells in the notebook
    seconds: float | None = None  # duration of the step that ended
    message: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; one of {KINDS}")


class Reporter:
    """Receives events (from any thread), prints them, and keeps them for the build record."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() and not os.environ.get("CI") if live is None else live
        self.start = time.time()
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._bars: dict[str, Any] = {}
        self._last_plain: dict[str, float] = {}

    # --- receiving --------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
            (self._live if self.live else self._plain)(event)

    def line(self, text: str) -> None:
        """A whole line from the main process (headings, tables), kept clear of the live lines."""
        with self._lock:
            if self._bars:
                from tqdm import tqdm

                tqdm.write(text, file=self.stream)
            else:
                print(text, file=self.stream, flush=True)

    # --- plain lines ------------------------------------------------------------------------
    def _elapsed(self, event: Event) -> str:
        return f"{event.wall - self.start:5.1f} s"

    def _plain(self, event: Event) -> None:
        name, text = event.notebook, None
        if event.kind == "up_to_date":
            text = f"  {name}: up to date"
        elif event.kind == "started":
            text = f"  {name}: executing ({event.cells} cells)"
        elif event.kind == "kernel_retry":
            text = f"  {name}: {event.message}"
        elif event.kind == "cell":
            last = self._last_plain.get(name, event.wall)
            if event.wall - last >= PLAIN_PROGRESS_EVERY_S:
                text = f"  {name}: cell {event.cell}/{event.cells}"
            else:
                self._last_plain.setdefault(name, event.wall)
                return
        elif event.kind == "executed":
            text = f"  {name}: executed in {event.seconds:.1f} s"
        elif event.kind == "failed":
            text = f"  {name}: FAILED ({event.message})"
        elif event.kind == "exported":
            text = f"  {name}: PDF written ({event.seconds:.1f} s)"
        elif event.kind == "export_failed":
            text = f"  {name}: PDF export FAILED"
        if text is not None:
            self._last_plain[name] = event.wall
            print(f"[{self._elapsed(event)}] {text.strip()}" if text.startswith("  ") else text, file=self.stream, flush=True)

    # --- live lines -------------------------------------------------------------------------
    def _bar(self, name: str, total: int | None) -> Any:
        from tqdm import tqdm

        if name not in self._bars:
            self._bars[name] = tqdm(
                total=total, desc=f"{name:<28}", position=len(self._bars), file=self.stream, leave=True,
                bar_format="{desc} {bar:20} {n_fmt}/{total_fmt} cells, {elapsed}{postfix}", dynamic_ncols=True,
            )
        return self._bars[name]

    def _live(self, event: Event) -> None:
        name = event.notebook
        if event.kind in {"up_to_date", "queued", "kernel_retry"}:
            if event.kind != "queued":
                from tqdm import tqdm

                tqdm.write(f"  {name}: {'up to date' if event.kind == 'up_to_date' else event.message}", file=self.stream)
            return
        bar = self._bar(name, event.cells)
        if event.kind == "started":
            bar.reset(total=event.cells)
        elif event.kind == "cell":
            bar.n = event.cell or 0
            bar.refresh()
        elif event.kind == "executed":
            bar.set_postfix_str(f"executed in {event.seconds:.1f} s")
        elif event.kind == "failed":
            bar.set_postfix_str("FAILED")
        elif event.kind == "exported":
            bar.set_postfix_str("executed, PDF written")
        elif event.kind == "export_failed":
            bar.set_postfix_str("PDF export FAILED")

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()

    # --- the record -------------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        """The events as JSON-ready data, times relative to the build's start."""
        return {
            "started_at": self.start,
            "events": [{**asdict(e), "t": round(e.wall - self.start, 3)} for e in self.events],
        }


def notebook_times(record: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per notebook, from a saved record: seconds from the build's start to each step, and durations."""
    out: dict[str, dict[str, float]] = {}
    for e in record.get("events", []):
        entry = out.setdefault(e["notebook"], {})
        if e["kind"] in {"started", "executed", "exported", "failed", "up_to_date"}:
            entry.setdefault(f"{e['kind']}_at", e["t"])
        if e["kind"] == "executed":
            entry["execute_s"] = e["seconds"]
        if e["kind"] == "exported":
            entry["export_s"] = e["seconds"]
    return out


class Forwarder:
    """The worker's side: sends events to the main process through a queue (or calls a function)."""

    def __init__(self, sink: Callable[[Event], None] | Any | None) -> None:
        self.sink = sink

    def __call__(self, event: Event) -> None:
        if self.sink is None:
            return
        if callable(self.sink):
            self.sink(event)
        else:
            self.sink.put(event)

"""Logging for workflow scripts: one place that sends a script's log and stderr to its Snakemake log."""

from __future__ import annotations

import logging
import sys


def setup(log_path=None, level=logging.INFO) -> logging.Logger:
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        stream = open(log_path, "a", buffering=1)
        sys.stderr = stream  # warnings and tracebacks land in the rule's log too
        handlers = [logging.StreamHandler(stream)]
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)

    def excepthook(kind, value, tb):
        logging.getLogger("twsrecon").error("stopped", exc_info=(kind, value, tb))
        # The one line a user must read also goes to the console Snakemake shows.
        print(f"ERROR: {value}", file=sys.__stderr__, flush=True)

    sys.excepthook = excepthook
    return logging.getLogger("twsrecon")


class Progress:
    """Progress lines for long loops (training, tuning, the BCNN), readable in a job log.

    A line at the first epoch, then at most one every `every_s` seconds, and the last one (`final`):
    epoch, what runs, elapsed time and an estimate of what remains (an upper bound where early stopping
    may end the loop sooner). A silent no-op without a logger.
    """

    def __init__(self, log: logging.Logger | None, what: str, total: int, every_s: float = 60.0, unit: str = "epoch"):
        import time

        self._clock = time.monotonic
        self.log, self.what, self.total, self.every_s, self.unit = log, what, int(total), float(every_s), unit
        self.t0 = self._clock()
        self.last = None

    @staticmethod
    def hms(seconds: float) -> str:
        seconds = int(round(seconds))
        return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def elapsed(self) -> float:
        return self._clock() - self.t0

    def update(self, epoch: int, *, running: int | None = None, done: int | None = None, best=None,
               extra: str = "", final: bool = False) -> bool:
        """Log a line for `epoch` (0-based) if one is due; returns whether it did."""
        if self.log is None:
            return False
        now = self._clock()
        due = self.last is None or final or epoch + 1 >= self.total or now - self.last >= self.every_s
        if not due:
            return False
        self.last = now
        elapsed = now - self.t0
        remaining = elapsed / (epoch + 1) * max(0, self.total - epoch - 1)
        parts = [f"{self.what}: {self.unit} {epoch + 1}/{self.total}"]
        if running is not None:
            parts.append(f"models running {running}, done {done}")
        if best is not None:
            parts.append(f"median best validation loss {best:.4g}")
        if extra:
            parts.append(extra)
        parts.append(f"elapsed {self.hms(elapsed)}")
        parts.append("finished" if final else f"remaining at most {self.hms(remaining)}")
        self.log.info(", ".join(parts))
        return True

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

"""One error type for bad user input, so every stage reports file, variable and problem the same way."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A user-supplied file cannot be used as it is.

    The message always names the file, the variable (when one is concerned) and what is wrong,
    because a hydrologist fixing a 2 TB input set must know exactly where to look.
    """

    def __init__(self, path: str | Path | None, problem: str, variable: str | None = None):
        self.path = None if path is None else str(path)
        self.variable = variable
        self.problem = problem
        where = f"file '{self.path}'" if self.path else "input"
        if variable:
            where += f", variable '{variable}'"
        super().__init__(f"{where}: {problem}")

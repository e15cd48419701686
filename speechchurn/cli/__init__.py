"""Command-line interface: the only package that imports typer or prints.

`main.py` defines the `app` and the core commands. Each further command group lives in a module of
its own in this package and registers itself on `app` when imported below.
"""

from speechchurn.cli.main import app  # isort: skip
from speechchurn.cli import outcomes as _outcomes  # noqa: F401  (train, retention)
from speechchurn.cli import qa as _qa  # noqa: F401  (qa)
from speechchurn.cli import serve as _serve  # noqa: F401  (serve, marks export, lexicon-stats)

__all__ = ["app"]

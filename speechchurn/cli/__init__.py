"""Command-line interface: the only package that imports typer or prints.

`main.py` defines the `app` and the core commands. Each further command group lives in a module of
its own in this package and registers itself on `app` when imported below.
"""

from speechchurn.cli.main import app

__all__ = ["app"]

"""The command-line tool: ``convlens VERB ...``. It holds no algorithm."""

from .main import main

__all__ = ["main"]

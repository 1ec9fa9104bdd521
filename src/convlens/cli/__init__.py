"""The command-line tool: ``convlens VERB ...``. It holds no algorithm.

The entry point is :func:`convlens.cli.main.main`; ``python -m convlens`` runs it too.
"""

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from .main import main as _main

    return _main(argv)

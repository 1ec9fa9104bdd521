"""The Seein' In explorer: a local web server and a WebGL2 front end.

- :func:`explore`: serve probed runs; returns an :class:`Explorer` (``.url``,
  ``.stop()``). :func:`convlens.explore` probes runs that need it first.
- :func:`create_app`: the FastAPI application, for in-process clients and tests.
- :class:`RunView`: the read-only view of one probed run that the app serves.

The explorer reads run directories only (:mod:`convlens.rundir`); it imports nothing
that writes a probe.
"""

from .app import create_app
from .server import Explorer, explore
from .session import RunView

__all__ = ["Explorer", "RunView", "create_app", "explore"]

"""The Seein' In explorer: a local web server and a WebGL2 front end.

- :func:`explore`: probe a run when needed and serve it; returns an :class:`Explorer`
  (``.url``, ``.stop()``).
- :func:`create_app`: the FastAPI application, for in-process clients and tests.
- :class:`RunView`: the read-only view of one probed run that the app serves.
"""

from .app import create_app
from .server import Explorer, ensure_probe, explore
from .session import RunView

__all__ = ["Explorer", "RunView", "create_app", "ensure_probe", "explore"]

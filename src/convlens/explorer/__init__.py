"""The Seein' In explorer: a local web server and a WebGL2 front end.

- :func:`explore`: serve runs at once, probing in the background when needed, and
  follow them live; returns an :class:`Explorer` (``.url``, ``.stop()``).
- :func:`create_app`: the FastAPI application, for in-process clients and tests.
- :class:`RunView`: the read-only view of one probed run that the app serves;
  :class:`Workspace`: the opened runs, watched for new checkpoints and re-probed stores.
- :func:`rank_pairs` (with :class:`RankSpec`, :class:`PairRanking`) and
  :func:`class_spread`: which dimension pairs of a layer show structure (the guide).

The server reads run directories only (:mod:`convlens.rundir`): probes run in their
own processes (:mod:`convlens.probe_job`), so nothing that writes a probe is
imported here (:func:`convlens.probe.ensure_probe` probes a run in this process).
"""

from .app import create_app
from .live import Workspace
from .ranking import PairRanking, RankSpec, class_spread, rank_pairs
from .server import Explorer, explore
from .session import RunView

__all__ = [
    "Explorer",
    "PairRanking",
    "RankSpec",
    "RunView",
    "Workspace",
    "class_spread",
    "create_app",
    "explore",
    "rank_pairs",
]

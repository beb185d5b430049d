"""The ``pool-planner`` command: the planner's commands (``planner.cli``), ``live ...`` (``dashboard.live.cli``)
and ``dashboard`` (``dashboard.launch``) under one name. ``python -m pool_planner`` runs the same."""

from planner import __version__

__all__ = ["__version__"]

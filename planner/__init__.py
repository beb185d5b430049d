"""Connection-pool capacity planner: pure Python, no I/O.

Inputs (``planner.model``) -> arithmetic (``budget``, ``sizing``, ``queueing``) -> findings (``rules``)
-> snippets (``export``). The dashboard imports this package; this package never imports the dashboard.
"""

__version__ = "0.1.0"

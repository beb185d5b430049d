"""Everything that talks to a live server or a browser: the live sampler (``dashboard.live``) and the UI."""

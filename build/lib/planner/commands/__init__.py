"""One module per CLI command. Each defines ``HELP``, ``EXAMPLE``, ``configure(parser)`` and ``run(args) -> int``."""

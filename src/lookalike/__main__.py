"""``python -m lookalike`` is the ``lookalike`` command."""

from lookalike.cli.main import main

main()

"""``python -m stream`` is the ``chatwatch`` command."""

from stream.cli import main

main()

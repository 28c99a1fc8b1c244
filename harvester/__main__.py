"""`python -m harvester` is `harvest`."""

from .cli import main

main()

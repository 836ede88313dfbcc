"""``python -m listbridge``: the same command line as the ``listbridge`` script."""

from listbridge.cli import main

main()

"""``python -m datayard.cli``: how backends start a worker with the interpreter they run on."""

from .main import main

main()

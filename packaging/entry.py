"""The packaged app's entry point: the ``datayard`` command (``datayard gui`` opens the app)."""

from datayard.cli.main import main

if __name__ == "__main__":
    main()

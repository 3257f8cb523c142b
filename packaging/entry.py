"""The packaged app's entry point: the ``datayard`` command (``datayard gui`` opens the app)."""

import multiprocessing

from datayard.cli.main import main

if __name__ == "__main__":
    # The app pushes from a child process (datayard.core.child_process), which a
    # bundle starts as this executable: this runs the child instead of the CLI.
    multiprocessing.freeze_support()
    main()

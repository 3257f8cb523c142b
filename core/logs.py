"""What other libraries say on stderr: shown only to someone who asked for details.

urllib3, under the store client, warns on every request to a store whose
certificate is not checked, and logs a WARNING when more threads than its
pool holds finish with a connection. Datayard's own message names the problem
and what to do next (and its own retries are logged at INFO), so these lines
only repeat it in a library's words, before it. Entry points call :func:`quiet_http_client` where
they set up logging (the command, the app, a child process); ``--debug`` keeps
them for bug reports.
"""

from __future__ import annotations

import logging
import warnings

HTTP_CLIENT = "urllib3"


def quiet_http_client(*, debug: bool) -> None:
    """Keep the HTTP client's warnings off stderr unless ``debug``."""
    if debug:
        return
    logging.getLogger(HTTP_CLIENT).setLevel(logging.ERROR)
    # Matched by module, not by class: naming urllib3's warning classes means importing
    # urllib3, a tenth of a second at the start of every command.
    warnings.filterwarnings("ignore", module=rf"{HTTP_CLIENT}\.")

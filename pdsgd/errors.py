"""The one exception type that reaches a user as a one-line message.

Anything the user can fix (an argument, a file, a missing dataset) raises
:class:`PdsgdError` with a message that says what is wrong and how to fix it.
The CLI prints it on one line and exits with code 2; anything else is a bug
and keeps its traceback. :class:`PdsgdWarning` is the same for what a run can
go on with, and :class:`Interrupted` what SIGTERM and SIGHUP raise.
"""


class PdsgdError(Exception):
    """A problem the user can fix; ``str(error)`` is the whole message."""


class PdsgdWarning(UserWarning):
    """Something the user may want to change, though the run can go on (one line)."""


class DataError(PdsgdError):
    """Bad or missing data: the message names the file (and line) at fault."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into what Ctrl-C raises so that the same clean-up runs.

    ``signum`` is the signal's number: the command line exits with ``128 + signum``.
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum

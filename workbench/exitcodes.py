"""What the ``workbench`` command's exit status means, so a script (or a researcher) can tell "the check
found problems" from "the input was wrong" from "the program broke". An unexpected exception is a bug: its
full traceback goes to a log file (``exports/logs/``, or the system temp folder when that cannot be written)
and the screen gets one line naming the failure, where it happened and the file."""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

__all__ = ["BAD_INPUT", "EXIT_CODES", "INTERNAL", "INTERRUPTED", "OK", "PROBLEMS", "run", "write_error_log"]

OK, PROBLEMS, BAD_INPUT, INTERNAL, INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES = """exit codes:
  0    success
  1    the check found problems (corpora check), or a job stopped before its end (finetune, evaluate: resume it)
  2    bad input or usage: the message says what is wrong, where, and the fix
  3    internal error (a bug): one line names it and the log file holding the traceback (exports/logs/)
  130  interrupted (Ctrl-C)"""


def write_error_log(exc: BaseException, argv: list[str] | None = None) -> Path | None:
    """The traceback of ``exc`` written atomically to ``exports/logs/error-<time>-<pid>.log``, else to the
    system temp folder; None when neither can be written."""
    import workbench
    from workbench import paths
    from workbench.io import write_text

    argv = sys.argv[1:] if argv is None else list(argv)
    text = (f"workbench {workbench.__version__} · Python {sys.version.split()[0]} · "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}\ncommand: workbench {shlex.join(argv)}\n\n"
            + "".join(traceback.format_exception(exc)))
    name = f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (paths.exports_dir() / "logs", Path(tempfile.gettempdir())):
        try:
            return write_text(folder / name, text)
        except OSError:
            continue
    return None


def run(parser, argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the chosen command, and map what happens onto the exit codes above."""
    from workbench.errors import WorkbenchError

    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (2) or the help (0)
        return exc.code if isinstance(exc.code, int) else BAD_INPUT
    try:
        return args.func(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # a bug: one line on screen, the traceback in a file
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" at {frame.filename}:{frame.lineno}" if frame else ""
        what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else '(no message)'}"
        log = write_error_log(exc, argv)
        if log is None:
            traceback.print_exception(exc)
        where = f"the full traceback is in {log}" if log else "no log folder was writable, so it is printed above"
        print(f"internal error (a bug in the workbench): {what}{at}; {where}. Please report it with that "
              "traceback.", file=sys.stderr)
        return INTERNAL

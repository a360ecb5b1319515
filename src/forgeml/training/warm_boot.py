"""A warm interpreter's program (run by `python -c` in its own namespace, no forgeml import):
preload, say ready, wait for one job on a pipe, then run its entry as `python FILE`/`-m` would.
"""

import json
import os
import sys
from typing import Any


def _preload(names: list[str]) -> None:
    import importlib
    import importlib.util

    for name in names:
        try:
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
        except Exception:  # noqa: S112 - a broken package is the job's to discover
            continue


def _receive(fd: int) -> dict[str, Any] | None:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return json.loads(b"".join(chunks)) if chunks else None


def _report(exc: BaseException) -> None:
    """Print the traceback the interpreter would have printed: without this program's frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
        tb = tb.tb_next
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def _run(job: dict[str, Any]) -> None:
    os.environ.clear()
    os.environ.update(job["env"])
    os.chdir(str(job["cwd"]))
    argv = [str(a) for a in job["argv"]]
    main = sys.modules["__main__"]
    for key in [k for k in vars(main) if k != "__builtins__"]:
        delattr(main, key)
    main.__name__, main.__doc__, main.__spec__, main.__package__ = "__main__", None, None, None
    if argv[0] == "-m":
        import runpy

        # As `python -m NAME ARGS`: argv is ['-m', *ARGS] until runpy puts the file first.
        sys.argv, sys.path[0] = [argv[0], *argv[2:]], os.getcwd()
        runpy._run_module_as_main(argv[1], alter_argv=True)  # type: ignore[attr-defined]
        return
    sys.argv, sys.path[0] = argv, os.path.dirname(argv[0])
    main.__file__ = argv[0]
    with open(argv[0], "rb") as handle:
        code = compile(handle.read(), argv[0], "exec")
    exec(code, vars(main))  # noqa: S102 - this is the entry point, as `python FILE` runs it


def main() -> None:
    ready, job_fd = int(sys.argv[1]), int(sys.argv[2])
    _preload(sys.argv[3:])
    os.write(ready, b"r")
    os.close(ready)
    job = _receive(job_fd)
    if job is None:  # discarded unused
        os._exit(0)
    try:
        _run(job)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        _report(exc)
        sys.exit(1)


if __name__ == "_forgeml_warm":  # run by the warm pool, never on import
    main()

"""Run an unmodified Python program with its sockets in the broker.

    python3 -m sockbroker.run [--url URL] script.py [args...]
    python3 -m sockbroker.run [--url URL] -m module [args...]
    python3 -m sockbroker.run [--url URL] -c code [args...]

sockbroker.install() is called first (reaching the daemon at URL, default
$SOCKBROKER_URL or the daemon's default path), then the program runs as
``python3 script.py`` would run it: same sys.argv, sys.path[0] and
``__name__ == "__main__"``. Its Python children (subprocess running
sys.executable, multiprocessing spawn and forkserver) install the broker
too, through the environment and a start-up hook (see install()).
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import List, Optional

USAGE = """\
usage: python3 -m sockbroker.run [--url URL] script.py [args...]
       python3 -m sockbroker.run [--url URL] -m module [args...]
       python3 -m sockbroker.run [--url URL] -c code [args...]

Run a Python program with every socket it creates held by the sockbroker
daemon at URL (default: $SOCKBROKER_URL, else the daemon's default path).
Its Python children (subprocess, multiprocessing) are brokered too.
"""


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    url = None
    while args and args[0].startswith("-") and args[0] not in ("-m", "-c"):
        option = args.pop(0)
        if option in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        if option == "--url" and args:
            url = args.pop(0)
        elif option.startswith("--url="):
            url = option[len("--url="):]
        else:
            sys.stderr.write(f"sockbroker.run: unknown option {option!r}\n{USAGE}")
            return 2
    if not args or (args[0] in ("-m", "-c") and len(args) < 2):
        sys.stderr.write(USAGE)
        return 2

    import sockbroker
    try:
        sockbroker.install(url)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"sockbroker.run: {e}\n")
        return 1

    if args[0] == "-m":
        module, rest = args[1], args[2:]
        sys.argv = [module] + rest
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    elif args[0] == "-c":
        code, rest = args[1], args[2:]
        sys.argv = ["-c"] + rest
        sys.path[0] = ""
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(code, "<string>", "exec"), namespace)
    else:
        script, rest = args[0], args[1:]
        sys.argv = [script] + rest
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())

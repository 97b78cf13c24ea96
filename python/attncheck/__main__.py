"""python -m attncheck VERB [options]: the attncheck CLI with Python implementations.

`python -m attncheck fuzz MODULE:ATTR [options]` is `attncheck fuzz --impl
py:MODULE:ATTR [options]`; every verb, option and exit code is the CLI's.
"""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m ser predict PATH...` and `python -m ser eval`: see `ser.cli`."""

import sys

from ser.cli import main

if __name__ == "__main__":
    sys.exit(main())

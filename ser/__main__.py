"""`python -m ser predict PATH...` and `python -m ser eval`: see `ser.cli.main`."""

import sys

from ser.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

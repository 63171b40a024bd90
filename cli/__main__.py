"""`python -m cli` (and `accelerate launch -m cli train ...`) runs `codegemma`."""

import sys

from cli.main import main

sys.exit(main())

"""`python -m bench [--quick] [--family NAME] [--threads N] [--json PATH]`."""
import sys

from bench.run import main

sys.exit(main())

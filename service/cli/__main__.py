"""`python -m service.cli`, as `token-service`."""

import sys

from service.cli import main

sys.exit(main())

"""`python -m service` is `token-service`."""

import sys

from service.cli import main

sys.exit(main())

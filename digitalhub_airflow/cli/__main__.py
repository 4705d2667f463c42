"""``python -m digitalhub_airflow.cli``: how pods and local model servers start ``dhub``."""

import sys

from digitalhub_airflow.cli.main import main

sys.exit(main())

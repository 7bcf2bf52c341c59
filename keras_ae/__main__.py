"""``python -m keras_ae``: the ``keras-ae`` command line (see :mod:`keras_ae.cli`)."""

import sys

from keras_ae.cli import main

if __name__ == "__main__":
    sys.exit(main())

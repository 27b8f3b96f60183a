"""nbval settings for the notebook series.

Two limits of nbval's harness, neither of which a person running the notebooks in Jupyter or papermill meets:

- nbval reads a cell's output messages only after the cell has finished. ZeroMQ keeps at most 1000 unread
  messages on each side of the kernel's output channel and drops the rest, so a long training cell (thousands
  of progress-bar updates) lost its final messages and nbval then waited for them in vain. The client side
  of that channel is given an unbounded queue here.
- nbval waits at most 5 s (hard-coded) for each output message once a cell has finished; on a busy 2-core
  machine the kernel's output thread can lag behind by more than that although the cell succeeded; give it
  a minute.

And nbval runs are headless: the kernels it starts inherit ``TALKFACE_HEADLESS=1`` (set here, so a plain
``pytest --nbval notebooks`` agrees with ``make test``), so ``INTERACTIVE = None`` draws no widgets and progress
bars are text (talkface_lite/widgets.py, talkface_lite/progress.py).
"""
import os

import zmq
from jupyter_client.connect import ConnectionFileMixin

OUTPUT_TIMEOUT_S = 60

os.environ["TALKFACE_HEADLESS"] = "1"

_connect_iopub = ConnectionFileMixin.connect_iopub


def _connect_iopub_unbounded(self, identity=None):
    self.context.setsockopt(zmq.RCVHWM, 0)  # default for sockets this context makes from now on; 0 = no limit
    return _connect_iopub(self, identity=identity)


ConnectionFileMixin.connect_iopub = _connect_iopub_unbounded


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        if hasattr(item, "output_timeout"):  # nbval's IPyNbCell
            item.output_timeout = OUTPUT_TIMEOUT_S

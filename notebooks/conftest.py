"""nbval settings for the notebook series.

nbval waits at most 5 s (hard-coded) for each output message after a cell finishes. A training cell
streams thousands of progress-bar updates, and on a busy 2-core machine the kernel's output thread can
lag behind by more than that although the cell itself succeeded; give it a minute.
"""
OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        if hasattr(item, "output_timeout"):  # nbval's IPyNbCell
            item.output_timeout = OUTPUT_TIMEOUT_S

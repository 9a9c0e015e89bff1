import pytest

import fibril


def pytest_collection_modifyitems(config, items):
    if fibril.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device (fibril.cuda.is_available() is False)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def num_threads():
    """Lets a test change the thread count; restores it afterwards."""
    before = fibril.get_num_threads()
    yield fibril.set_num_threads
    fibril.set_num_threads(before)

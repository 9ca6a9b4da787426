# conftest.py: pytest fixtures shared by the integration tests: one real
# master with the demo module per test module (default configuration), and
# checks that the build tree holds the binaries before anything starts.

import os

import pytest

import harness


def pytest_report_header(config):
    return "wspool build tree: %s%s" % (
        harness.BUILDDIR,
        " (wrapper: %s)" % " ".join(harness.WRAPPER) if harness.WRAPPER else "")


@pytest.fixture(scope="session", autouse=True)
def built_tree():
    """Fail early, with the reason, when the binaries are not built."""
    if os.environ.get("WSPOOL_TEST_PORT"):
        return
    for path in (harness.MASTER, harness.WORKER, harness.DEMO_SO):
        assert os.path.exists(path), (
            "%s is missing: build the tree first (WSPOOL_BUILDDIR=%s)"
            % (path, harness.BUILDDIR))


@pytest.fixture(scope="module")
def server():
    """A master with 2 workers and the demo module, shared by a test module.

    Its teardown (SIGTERM, exit status 0, no sanitizer report) runs after the
    module's last test and fails that test's teardown if anything is wrong.
    """
    with harness.Server(workers=2) as srv:
        yield srv

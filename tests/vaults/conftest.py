"""The 1Password stand-ins, for the backend tests in this folder."""

try:  # the tests folder is a package once a top-level tests/__init__.py exists
    from tests.standins.fixtures import *  # noqa: F403
except ImportError:
    from standins.fixtures import *  # noqa: F403

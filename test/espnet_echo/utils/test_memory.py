import sys

from espnet_echo.utils.memory import trim_heap


def test_trim_heap_releases_on_glibc():
    assert trim_heap() is sys.platform.startswith("linux")  # CI and this machine: glibc

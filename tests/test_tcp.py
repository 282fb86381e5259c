"""dicomnet.tcp: read buffers served from glibc's heap from an association's first read."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# In a fresh process: the suite's own large allocations have long raised the threshold.
PROBE = textwrap.dedent("""
    import ctypes, sys
    from dicomnet.tcp import warm_read_buffers

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    if sys.argv[1] == "warm":
        warm_read_buffers()
    before = libc.mallinfo2().hblks
    buffer = bytes(256 * 1024)  # what asyncio's transport asks recv for, each read
    print(libc.mallinfo2().hblks - before)
""")


def mapped_blocks_for_a_read_buffer(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True,
                          text=True, timeout=60, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_after_warming_a_read_buffer_comes_from_the_heap_not_from_mmap() -> None:
    assert mapped_blocks_for_a_read_buffer("cold") == 1  # what each read would cost
    assert mapped_blocks_for_a_read_buffer("warm") == 0

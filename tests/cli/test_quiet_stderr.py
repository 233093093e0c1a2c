"""cli.quiet_stderr: TensorFlow's start-up INFO lines are dropped from file descriptor 2,
everything else passes, in order (a real process writing to its fd 2, C-level writes too)."""

import subprocess
import sys

CHILD = r"""
import os, sys
from bucketscore.cli.quiet_stderr import filtered_stderr
with filtered_stderr():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                b"written to STDERR\n")
    os.write(2, b"I0000 00:00:1796277795.150247   31171 port.cc:153] oneDNN custom "
                b"operations are on.\n")
    os.write(2, b"W0000 00:00:1796277795.150247   31171 x.cc:1] a real warning\n")
    print("a python line", file=sys.stderr, flush=True)
    os.write(2, b"no newline at the end")
print("after", file=sys.stderr)
"""


def test_noise_is_dropped_and_the_rest_kept_in_order():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "W0000 00:00:1796277795.150247   31171 x.cc:1] a real warning\n"
        "a python line\nno newline at the endafter\n"
    )


def test_nothing_changes_when_stderr_is_not_fd_2(capsys):
    from bucketscore.cli.quiet_stderr import filtered_stderr

    with filtered_stderr():  # pytest's capture: sys.stderr is no file descriptor 2
        print("kept", file=sys.stderr)
    assert capsys.readouterr().err == "kept\n"

"""alignment is a leaf library: importing it never imports mmrec."""

import subprocess
import sys


def test_alignment_never_imports_mmrec():
    code = "import sys, alignment; assert not any(m == 'mmrec' or m.startswith('mmrec.') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)

"""Run the benchmark suite: ``python -m bench [--quick] [--write-doc FILE]`` (see
``bench.suite``): every benchmark in a child process, then one Markdown table."""

from __future__ import annotations

import sys

from bench.suite import main

if __name__ == "__main__":
    sys.exit(main())

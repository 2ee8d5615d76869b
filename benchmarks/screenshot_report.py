"""Render a run's report.html in headless Chromium and save the picture, to look at it as a person would.

    apt-get install chromium            # Debian's package
    python benchmarks/screenshot_report.py RUN_DIR/new-items/report.html benchmarks/results/report-new-items.png

The HTML is one self-contained file (plots embedded as data URIs), so the page renders from the file alone.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 2000) -> Path:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png.resolve()}", html.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    return png


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args()
    print(screenshot(args.html, args.png, height=args.height))

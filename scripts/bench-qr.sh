#!/usr/bin/env bash
# QR benchmark: Nyckel and plain rqrr (Rust, release build) and ZXing-C++ (PyPI wheel) on the same
# grey images, printed as one table. Needs network access to PyPI the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo bench -p nyckel-qr --bench qr
python3 -m pip install --quiet --disable-pip-version-check zxing-cpp pillow numpy
python3 scripts/bench-qr-zxing.py "$target/qr-bench"

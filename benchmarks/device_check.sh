#!/usr/bin/env bash
# The one-line entry of the GPU check (see benchmarks/device_check.py); run from the repository root.
python3 benchmarks/device_check.py "$@"

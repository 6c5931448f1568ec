#!/usr/bin/env bash
# One command for a lent GPU: QLoRA training (MFU) and batch-64 generation, selfspec vs HF. See gpu.py.
exec "${PYTHON:-python}" "$(dirname "$0")/gpu.py" "$@"

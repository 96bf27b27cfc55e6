"""The torch device a job runs on, and whether it trains under bfloat16 autocast."""

from __future__ import annotations

import torch


def choose_device(device: str) -> torch.device:
    """Resolve 'auto' to CUDA when present, else the CPU; refuse 'cuda' without a GPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available; use 'auto'")
    return torch.device(device)


def autocast_bfloat16(device: torch.device, wanted: bool) -> bool:
    """Whether to train under bfloat16 autocast: on CUDA, or a CPU with native bfloat16 units.

    On a CPU without them (no AVX512-BF16 or AMX) oneDNN emulates bfloat16 and is slower than
    float32, so the setting is ignored there.
    """
    if not wanted:
        return False
    return device.type == "cuda" or (
        device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    )

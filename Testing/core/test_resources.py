"""core.resources: devices checked before anything loads, memory asked for up front, out-of-memory named."""

import pytest
import torch
from SaliencyExplorerLib.core import resources
from SaliencyExplorerLib.errors import SaliencyError


def test_cpu_always_exists_and_a_missing_gpu_is_one_line_naming_it():
    assert resources.available_devices()[0] == "cpu" and resources.check_device("cpu") == "cpu"
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SaliencyError) as info:
        resources.check_device("cuda", "--device")
    message = str(info.value)
    assert "cuda" in message and "cpu" in message and "\n" not in message


def test_memory_is_checked_against_what_is_free():
    free = resources.available_memory()
    assert free is None or free > 0
    resources.check_memory(1024, "a tiny grid", "nothing to fix")  # a kilobyte always fits
    with pytest.raises(SaliencyError, match=r"needs about .* GiB .* free; use a smaller input.size"):
        resources.check_memory(2**60, "the model grid", "use a smaller input.size")


def test_out_of_memory_is_recognised_and_names_the_batch_size():
    assert resources.is_out_of_memory(
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: not enough memory: you tried to allocate 4096 bytes"
        )
    )
    assert resources.is_out_of_memory(MemoryError())
    assert not resources.is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    error = resources.out_of_memory_error(RuntimeError("DefaultCPUAllocator: not enough memory\nmore lines"))
    assert isinstance(error, SaliencyError) and "--batch-size" in str(error) and "\n" not in str(error)

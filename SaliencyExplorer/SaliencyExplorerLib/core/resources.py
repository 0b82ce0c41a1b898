"""Devices and memory, checked before anything big is loaded or allocated.

Why: ``--device cuda`` on a machine without CUDA, or a card whose grid needs 40 GB, should fail in a
second with one line naming the number and the option to change -- not with torch's traceback after the
model was loaded, and not by the operating system killing the process. psutil is not a dependency:
free memory comes from /proc/meminfo (Linux), ``os.sysconf`` (other POSIX) or Windows' API, else unknown.
"""

from __future__ import annotations

import os

from ..errors import SaliencyError


def available_devices() -> list[str]:
    """The devices that exist here: 'cpu', then 'cuda' / 'cuda:N' for each visible GPU, 'mps' on Apple."""
    devices = ["cpu"]
    try:
        import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    except ImportError:
        return devices
    try:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken driver means: no CUDA
        count = 0
    if count:
        devices.append("cuda")
        if count > 1:
            devices += [f"cuda:{i}" for i in range(count)]
    mps = getattr(getattr(torch, "backends", None), "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def check_device(device, what: str = "--device") -> str:
    """``device`` as a string if it exists here; else one line naming it and the devices that do exist."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    name = str(device if device is not None else "cpu").strip()
    try:
        parsed = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise SaliencyError(f"{what} {name!r} is not a device name. Use cpu, cuda or cuda:N.") from None
    if parsed.type == "cpu":
        return name
    here = ", ".join(available_devices())
    if parsed.type == "cuda":
        try:
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        except Exception:  # noqa: BLE001
            count = 0
        if count == 0:
            raise SaliencyError(
                f"{what} {name}: CUDA is not available on this machine. Use --device cpu (devices here: {here})."
            )
        if parsed.index is not None and parsed.index >= count:
            raise SaliencyError(
                f"{what} {name}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1}). "
                f"Pick one of: {here}."
            )
        return name
    if parsed.type == "mps" and "mps" in available_devices():
        return name
    raise SaliencyError(f"{what} {name}: no such device on this machine. Use one of: {here}.")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now, or None when it cannot be told."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        pass
    if os.name == "nt":
        try:
            import ctypes  # noqa: PLC0415  (Windows only)

            class _Status(ctypes.Structure):
                _fields_ = [
                    ("dwLength", ctypes.c_ulong),
                    ("dwMemoryLoad", ctypes.c_ulong),
                    ("ullTotalPhys", ctypes.c_ulonglong),
                    ("ullAvailPhys", ctypes.c_ulonglong),
                    ("ullTotalPageFile", ctypes.c_ulonglong),
                    ("ullAvailPageFile", ctypes.c_ulonglong),
                    ("ullTotalVirtual", ctypes.c_ulonglong),
                    ("ullAvailVirtual", ctypes.c_ulonglong),
                    ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
                ]

            status = _Status()
            status.dwLength = ctypes.sizeof(_Status)
            if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
                return int(status.ullAvailPhys)
        except Exception:  # noqa: BLE001
            pass
    return None


def gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MiB"


def check_memory(nbytes: float, what: str, fix: str, fraction: float = 0.8) -> None:
    """Refuse a request for more than ``fraction`` of the free memory, naming both numbers and the fix."""
    free = available_memory()
    if free is None:
        free = 2**40  # unknown: only refuse the absurd (over 1 TiB)
    if nbytes > fraction * free:
        raise SaliencyError(f"{what} needs about {gib(nbytes)} of memory but only {gib(free)} is free; {fix}.")


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's ways of saying an allocation failed (CPU and CUDA)."""
    try:
        import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    text = str(exc)
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        isinstance(exc, MemoryError)
        or "not enough memory" in text
        or "DefaultCPUAllocator" in text
        or "out of memory" in text.lower()
    )


OOM_FIX = "use a smaller --batch-size (batch_size=...), a smaller input.size in the card, or --device cpu"


def out_of_memory_error(exc: BaseException) -> SaliencyError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return SaliencyError(f"out of memory during the run ({first}); {OOM_FIX}.")

"""Execution-provider choice (pure logic) and the CUDA probe (with the driver faked or real)."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator

import pytest

from streaminfer.errors import DeviceError
from streaminfer.operators import providers
from streaminfer.operators.providers import (
    CPU,
    CUDA,
    TENSORRT,
    CudaStatus,
    ProviderChoice,
    choose_providers,
    cuda_status,
    select_providers,
)

GPU_BUILD = [TENSORRT, CUDA, CPU]
CPU_BUILD = [CPU]
USABLE = CudaStatus(True, "2 GPU(s) visible")
UNUSABLE = CudaStatus(False, "no NVIDIA driver (libcuda.so.1 not found)")


# ---------------------------------------------------------------- auto

def test_auto_uses_cuda_then_cpu_when_cuda_is_usable() -> None:
    assert choose_providers("auto", GPU_BUILD, USABLE) == ProviderChoice(
        [CUDA, CPU], "CUDA: 2 GPU(s) visible"
    )


def test_auto_falls_back_to_cpu_with_the_reason_when_cuda_is_not_usable() -> None:
    assert choose_providers("auto", GPU_BUILD, UNUSABLE) == ProviderChoice(
        [CPU], "CPU: no NVIDIA driver (libcuda.so.1 not found)"
    )


def test_auto_on_a_build_without_cuda_uses_cpu_whatever_the_machine() -> None:
    for cuda in (USABLE, UNUSABLE):
        assert choose_providers("auto", CPU_BUILD, cuda) == ProviderChoice(
            [CPU], "CPU: this onnxruntime build has no CUDA provider"
        )


# ---------------------------------------------------------------- explicit lists

@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ([CPU], [CPU]),
        ([CUDA], [CUDA, CPU]),               # CPU is always the last resort
        ([CUDA, CPU], [CUDA, CPU]),          # not appended twice
        ([TENSORRT, CUDA], [TENSORRT, CUDA, CPU]),
        ([CPU, CUDA], [CPU, CUDA]),          # the configured order is kept
    ],
)
def test_an_explicit_list_is_used_as_configured(requested: list[str], expected: list[str]) -> None:
    given = list(requested)
    choice = choose_providers(given, GPU_BUILD, USABLE)
    assert choice == ProviderChoice(expected, "as configured")
    assert given == requested  # the caller's list is not modified


@pytest.mark.parametrize("name", [CUDA, TENSORRT])
def test_an_explicit_gpu_provider_without_usable_cuda_is_a_device_error(name: str) -> None:
    with pytest.raises(DeviceError) as info:
        choose_providers([name, CPU], GPU_BUILD, UNUSABLE)
    message = str(info.value)
    assert message == (
        f"model.providers asks for {name} but CUDA is not usable here: "
        "no NVIDIA driver (libcuda.so.1 not found); use providers: auto to fall back to the CPU"
    )
    assert "\n" not in message


def test_an_explicit_provider_the_build_lacks_is_a_device_error() -> None:
    with pytest.raises(DeviceError) as info:
        choose_providers([CUDA], CPU_BUILD, USABLE)
    message = str(info.value)
    assert message == (
        f"model.providers asks for {CUDA}, which this onnxruntime build lacks "
        f"(it has {CPU}); use providers: auto"
    )
    assert "\n" not in message


def test_cpu_only_is_fine_without_cuda() -> None:
    assert choose_providers([CPU], CPU_BUILD, UNUSABLE).providers == [CPU]


def test_select_providers_uses_this_onnxruntime_build(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort

    monkeypatch.setattr(providers, "cuda_status", lambda: CudaStatus(False, "faked"))
    assert select_providers([CPU]) == ProviderChoice([CPU], "as configured")
    auto = select_providers("auto")
    assert auto.providers == [CPU]
    if CUDA in ort.get_available_providers():
        assert auto.reason == "CPU: faked"
    else:
        assert auto.reason == "CPU: this onnxruntime build has no CUDA provider"


# ---------------------------------------------------------------- the CUDA probe

@pytest.fixture
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """cuda_status() is cached per process: clear it before and after, and start each test
    without CUDA_VISIBLE_DEVICES."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    cuda_status.cache_clear()
    yield
    cuda_status.cache_clear()


class FakeDriver:
    """libcuda's two calls the probe makes."""

    def __init__(self, count: int = 1, init_rc: int = 0, count_rc: int = 0) -> None:
        self.count, self.init_rc, self.count_rc = count, init_rc, count_rc

    def cuInit(self, flags: int) -> int:
        return self.init_rc

    def cuDeviceGetCount(self, ref: object) -> int:
        ref._obj.value = self.count  # type: ignore[attr-defined]  # ctypes.byref(c_int)
        return self.count_rc


def _fake_libraries(monkeypatch: pytest.MonkeyPatch, driver: FakeDriver | None,
                    missing: list[str] | None = None) -> list[str]:
    """Replace ctypes.CDLL for libcuda (None: not installed) and the library check."""
    loaded: list[str] = []

    def cdll(name: str, *args: object, **kwargs: object) -> FakeDriver:
        loaded.append(name)
        if name != "libcuda.so.1" or driver is None:
            raise OSError(f"{name}: cannot open shared object file")
        return driver

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    monkeypatch.setattr(providers, "_missing_cuda_libraries", lambda: list(missing or []))
    return loaded


@pytest.mark.parametrize("visible", ["", "-1", " "])
def test_no_gpu_assigned_when_cuda_visible_devices_is_empty(
    fresh_probe: None, monkeypatch: pytest.MonkeyPatch, visible: str
) -> None:
    loaded = _fake_libraries(monkeypatch, FakeDriver(count=4))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert cuda_status() == CudaStatus(False, "no GPU assigned (CUDA_VISIBLE_DEVICES is empty)")
    assert loaded == []  # decided without touching the driver


def test_no_driver(fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_libraries(monkeypatch, None)
    assert cuda_status() == CudaStatus(False, "no NVIDIA driver (libcuda.so.1 not found)")


@pytest.mark.parametrize("driver", [FakeDriver(init_rc=100), FakeDriver(count_rc=3)])
def test_a_driver_that_fails(fresh_probe: None, monkeypatch: pytest.MonkeyPatch,
                             driver: FakeDriver) -> None:
    _fake_libraries(monkeypatch, driver)
    assert cuda_status() == CudaStatus(False, "the NVIDIA driver found no usable GPU")


def test_a_driver_that_sees_no_gpu(fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_libraries(monkeypatch, FakeDriver(count=0))
    assert cuda_status() == CudaStatus(False, "no GPU visible")


def test_gpus_without_the_cuda_libraries(fresh_probe: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_libraries(monkeypatch, FakeDriver(count=2), missing=["libcublas.so.12", "libcudnn.so.9"])
    status = cuda_status()
    assert not status.usable
    assert status.reason == (
        "2 GPU(s) but libcublas.so.12, libcudnn.so.9 not found; install "
        "onnxruntime-gpu[cuda,cudnn] or use a CUDA base image"
    )


def test_gpus_with_everything_present(fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_libraries(monkeypatch, FakeDriver(count=3))
    assert cuda_status() == CudaStatus(True, "3 GPU(s) visible")


def test_the_probe_runs_once_per_process(fresh_probe: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _fake_libraries(monkeypatch, None)
    first = cuda_status()
    second = cuda_status()
    assert first is second
    assert loaded == ["libcuda.so.1"]


def _driver_loadable() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def test_the_real_probe_on_this_machine(fresh_probe: None) -> None:
    status = cuda_status()
    assert isinstance(status, CudaStatus)
    assert status.reason and "\n" not in status.reason
    if not _driver_loadable():  # the development and CI machines have no GPU
        assert status == CudaStatus(False, "no NVIDIA driver (libcuda.so.1 not found)")
    elif status.usable:
        assert status.reason.endswith("GPU(s) visible")

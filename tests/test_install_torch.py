"""PyTorch on demand, tested with a fake torch wheel in a local folder (never the internet)."""

import zipfile

import pytest


def _fake_torch_wheel(folder, version):
    """A minimal wheel named torch: enough for pip to install it into a target folder."""
    name = f"torch-{version}.dist-info"
    path = folder / f"torch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("torch/__init__.py", f"__version__ = '{version}'\nFAKE = True\n")
        wheel.writestr(f"{name}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        wheel.writestr(f"{name}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{name}/RECORD", "")
    return path


def test_installs_the_pinned_torch_from_a_wheel_folder(bpy, addon, tmp_path, monkeypatch):
    install = addon.operators.install_torch
    _fake_torch_wheel(tmp_path, install.TORCH_VERSION)
    _fake_torch_wheel(tmp_path, "9.9.9")  # a newer one the pin must not take
    monkeypatch.setattr(install, "online_allowed", lambda: False)  # a wheel folder needs no network
    target = install.packages_dir(create=True)
    try:
        install.ensure_pip()
    except ValueError:  # a distribution's Blender with neither pip nor ensurepip: a clear refusal instead
        with pytest.raises(RuntimeError, match="has no pip, so Design Space cannot install PyTorch itself"):
            bpy.ops.design_space.install_torch(wheel_folder=str(tmp_path))
        assert not (target / "torch").exists()
        return
    assert bpy.ops.design_space.install_torch(wheel_folder=str(tmp_path)) == {'FINISHED'}
    installed = (target / "torch" / "__init__.py").read_text()
    assert f"__version__ = '{install.TORCH_VERSION}'" in installed and "FAKE" in installed
    assert str(target) in __import__("sys").path[-3:]  # appended: Blender's own packages stay first
    import torch  # the real one still wins in this environment

    assert not hasattr(torch, "FAKE")


def test_no_download_when_online_access_is_off(bpy, addon, monkeypatch):
    install = addon.operators.install_torch
    monkeypatch.setattr(install, "online_allowed", lambda: False)
    monkeypatch.delenv(install.INDEX_ENV, raising=False)
    with pytest.raises(RuntimeError, match="online access is off"):
        bpy.ops.design_space.install_torch()


def test_the_download_uses_pytorchs_index_and_the_pin(addon, monkeypatch):
    install = addon.operators.install_torch
    monkeypatch.setattr(install, "online_allowed", lambda: True)
    monkeypatch.delenv(install.INDEX_ENV, raising=False)
    command = install.pip_command('CUDA', "", addon.operators.install_torch.Path("/tmp/target"))
    assert command[-3:] == ["--index-url", install.INDEXES['CUDA'], f"torch=={install.TORCH_VERSION}"]
    assert "--target" in command and "/tmp/target" in command


def test_the_preferences_say_whether_torch_is_there(addon):
    assert addon.operators.install_torch.torch_status().startswith("PyTorch 2.")

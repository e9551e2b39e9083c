"""Where the game keeps its files (game/userdirs.py): every place that saves or caches something asks the same
module, so each lands in the folder the player's system expects (platformdirs), and Linux keeps the XDG folders."""
from __future__ import annotations

from pathlib import Path

import platformdirs
from platformdirs import macos, unix
import pytest

from audio import delaystore
from game import settings as settings_mod
from game import song as song_mod
from game.settings import Settings, data_path
from vision import calibration, democlip, models


def where(settings: Settings) -> dict[str, Path]:
    return {"audio delay": delaystore.store_path(settings), "calibrations": calibration.calibration_dir(),
            "demo clips": democlip.cache_dir(), "models": models.models_dir(), "history": data_path(settings),
            "songs": song_mod.user_songs_dir()}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "HANDTONE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_linux_keeps_the_xdg_folders(home, monkeypatch):
    monkeypatch.setattr(platformdirs, "PlatformDirs", unix.Unix)
    got = where(Settings())
    assert got["audio delay"] == home / ".config/handtone/audio-delay.json"
    assert got["calibrations"] == home / ".config/handtone/calibration"
    assert got["demo clips"] == home / ".cache/handtone"
    assert got["models"].parent == home / ".cache/handtone/models"
    assert got["history"] == home / ".local/share/handtone" and got["songs"] == home / ".local/share/handtone/songs"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "conf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    got = where(Settings())
    assert got["audio delay"] == home / "conf/handtone/audio-delay.json"
    assert got["calibrations"] == home / "conf/handtone/calibration"
    assert got["demo clips"] == home / "cache/handtone" and got["models"].parent == home / "cache/handtone/models"
    assert got["history"] == home / "data/handtone"


def test_macos_uses_library(home, monkeypatch):
    monkeypatch.setattr(platformdirs, "PlatformDirs", macos.MacOS)
    monkeypatch.setattr("sys.platform", "darwin")
    got = where(Settings())
    support = home / "Library/Application Support/handtone"
    assert got["audio delay"] == support / "audio-delay.json" and got["calibrations"] == support / "calibration"
    assert got["demo clips"] == home / "Library/Caches/handtone"
    assert got["models"].parent == home / "Library/Caches/handtone/models"
    assert got["history"] == support and got["songs"] == support / "songs"


def test_windows_uses_local_appdata(home, monkeypatch):
    """Windows' folder lookup (the shell's known folders) does not run here: the environment's LOCALAPPDATA stands in
    for it, as platformdirs reads it where the shell cannot be asked."""
    from platformdirs import windows
    monkeypatch.setattr(platformdirs, "PlatformDirs", windows.Windows)
    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.setattr(windows, "get_win_folder", windows.get_win_folder_from_env_vars)
    local = home / "AppData/Local"
    monkeypatch.setenv("LOCALAPPDATA", str(local))
    got = where(Settings())
    assert got["audio delay"] == local / "handtone/audio-delay.json"
    assert got["calibrations"] == local / "handtone/calibration"
    assert got["demo clips"] == local / "handtone/Cache" and got["models"].parent == local / "handtone/Cache/models"
    assert got["history"] == local / "handtone"


def test_an_update_on_macos_goes_on_with_the_folders_an_earlier_version_used(home, monkeypatch):
    """Earlier versions kept the config and cache in ~/.config and ~/.cache on every system: calibrations, the audio
    delay and the downloaded models are found there until the system's own folders exist."""
    monkeypatch.setattr(platformdirs, "PlatformDirs", macos.MacOS)
    monkeypatch.setattr("sys.platform", "darwin")
    (home / ".config/handtone/calibration").mkdir(parents=True)
    (home / ".cache/handtone/models").mkdir(parents=True)
    got = where(Settings())
    assert got["audio delay"] == home / ".config/handtone/audio-delay.json"
    assert got["calibrations"] == home / ".config/handtone/calibration"
    assert got["models"].parent == home / ".cache/handtone/models"
    (home / "Library/Caches/handtone").mkdir(parents=True)
    assert where(Settings())["models"].parent == home / "Library/Caches/handtone/models"
    monkeypatch.setattr("sys.platform", "linux")      # on Linux the two are one: the XDG folders, whatever is there
    monkeypatch.setattr(platformdirs, "PlatformDirs", unix.Unix)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "conf"))
    assert where(Settings())["calibrations"] == home / "conf/handtone/calibration"


def test_settings_and_variables_still_move_them(home, tmp_path):
    env = {"HANDTONE_AUDIO_DELAY_FILE": str(tmp_path / "d.json"), "HANDTONE_DATA_DIR": str(tmp_path / "data"),
           "HANDTONE_CALIBRATION_DIR": str(tmp_path / "cal"), "HANDTONE_MODELS_DIR": str(tmp_path / "m"),
           "HANDTONE_SONGS_DIR": str(tmp_path / "songs")}
    s = settings_mod.build({}, env)
    assert delaystore.store_path(s) == tmp_path / "d.json" and data_path(s) == tmp_path / "data"
    assert calibration.calibration_dir(s.calibration_dir) == tmp_path / "cal"
    assert models.models_dir(s.models_dir) == tmp_path / "m"
    assert song_mod.user_songs_dir(s.songs_dir) == tmp_path / "songs"

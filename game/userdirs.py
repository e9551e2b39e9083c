"""The per-user folders the game keeps its files in, each where the player's system expects it (platformdirs).

- config (calibrations, the speaker-to-microphone delay): ~/.config/handtone on Linux (XDG_CONFIG_HOME),
  ~/Library/Application Support/handtone on macOS, %LOCALAPPDATA%\\handtone on Windows;
- cache (the landmark models, rendered demo clips: fetched or made again when gone): ~/.cache/handtone on Linux
  (XDG_CACHE_HOME), ~/Library/Caches/handtone on macOS, %LOCALAPPDATA%\\handtone\\Cache on Windows;
- data (history, the email outbox, the player's songs): ~/.local/share/handtone on Linux (XDG_DATA_HOME), as
  config on macOS and Windows.

Why one module: five places had each built their folder themselves, four of them ~/.config or ~/.cache on every
system. Earlier versions kept config and cache there on macOS and Windows too: where such a folder is there and the
system's own is not, it goes on being used, so an update loses no calibration, delay or downloaded model.
"""
from __future__ import annotations

import sys
from pathlib import Path

APP = "handtone"


def _dirs():
    import platformdirs
    return platformdirs.PlatformDirs(APP, appauthor=False)


def _or_earlier(path: Path, earlier: str) -> Path:
    """path, or ~/<earlier>/handtone where an earlier version left it (not on Linux, where they are the same)."""
    if sys.platform.startswith("linux") or path.exists():
        return path
    old = Path.home() / earlier / APP
    return old if old.is_dir() else path


def config_dir() -> Path:
    return _or_earlier(Path(_dirs().user_config_dir), ".config")


def cache_dir() -> Path:
    return _or_earlier(Path(_dirs().user_cache_dir), ".cache")


def data_dir() -> Path:
    return Path(_dirs().user_data_dir)

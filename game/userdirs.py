"""The per-user folders the game keeps its files in, each where the player's system expects it (platformdirs).

- config (calibrations, the speaker-to-microphone delay): ~/.config/handtone on Linux (XDG_CONFIG_HOME),
  ~/Library/Application Support/handtone on macOS, %LOCALAPPDATA%\\handtone on Windows;
- cache (the landmark models, rendered demo clips: fetched or made again when gone): ~/.cache/handtone on Linux
  (XDG_CACHE_HOME), ~/Library/Caches/handtone on macOS, %LOCALAPPDATA%\\handtone\\Cache on Windows;
- data (history, the email outbox): ~/.local/share/handtone on Linux (XDG_DATA_HOME), as config on macOS and Windows.

Why one module: four places had each built ~/.config or ~/.cache themselves, on every system alike.
"""
from __future__ import annotations

from pathlib import Path

APP = "handtone"


def _dirs():
    import platformdirs
    return platformdirs.PlatformDirs(APP, appauthor=False)


def config_dir() -> Path:
    return Path(_dirs().user_config_dir)


def cache_dir() -> Path:
    return Path(_dirs().user_cache_dir)


def data_dir() -> Path:
    return Path(_dirs().user_data_dir)

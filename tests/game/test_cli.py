"""The listing commands a player uses to choose a camera and audio devices."""
from pathlib import Path

from conftest import run_app


def test_devices_lists_the_sound_servers_devices_with_defaults(pulse):
    proc = run_app("devices", timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any("pulse" in l for l in lines)
    assert any("(default input, default output)" in l for l in lines), proc.stdout
    assert all(l.split()[0].isdigit() for l in lines), "each device starts with the index --input-device takes"


def test_cameras_lists_what_opens_and_the_other_sources():
    proc = run_app("cameras", timeout=60)
    assert proc.returncode == 0, proc.stderr
    videos = list(Path("/dev").glob("video*"))
    if not videos:
        assert "no webcam opens on this machine" in proc.stdout
    assert "--camera also takes: demo" in proc.stdout


def test_help_names_every_command():
    proc = run_app("--help", timeout=60)
    for command in ("play", "demo", "peek", "cameras", "devices"):
        assert f"    {command}" in proc.stdout

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


def test_a_command_line_mistake_is_one_line_that_says_where_the_options_are():
    for args, says in ((("demo", "--difficulty", "insane"), "argument --difficulty: invalid choice: 'insane'"),
                       (("demo", "--count-in", "abc"), "argument --count-in: invalid float value: 'abc'"),
                       (("history", "--bogus"), "unrecognized arguments: --bogus"),
                       (("nosuch",), "invalid choice: 'nosuch'")):
        proc = run_app(*args, timeout=60)
        assert proc.returncode == 2 and proc.stdout == "", args
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("handtone: error: python main.py"), proc.stderr
        assert says in proc.stderr and "--help` lists the options" in proc.stderr, proc.stderr
    proc = run_app(timeout=60)                       # nothing given: what the game can do
    assert proc.returncode == 2 and "    demo" in proc.stderr and "    play" in proc.stderr

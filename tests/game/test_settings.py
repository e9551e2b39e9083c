"""Settings: CLI > environment > .env > defaults, validated with messages that say what to do."""
import pytest

from game import settings


def test_precedence_cli_over_env_over_env_file_over_defaults(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("HANDTONE_DIFFICULTY=hard\nHANDTONE_MUSIC_VOLUME=0.2\nHANDTONE_PLAYER=File\n")
    env = {"HANDTONE_ENV_FILE": str(env_file), "HANDTONE_MUSIC_VOLUME": "0.3"}
    s = settings.build({"player": "Cli", "duration": None}, env)
    assert s.player == "Cli"            # CLI wins
    assert s.music_volume == 0.3        # environment beats .env
    assert s.difficulty == "hard"       # .env beats the default
    assert s.block == 128               # default
    assert s.tolerance == 0.5


def test_settings_are_frozen():
    s = settings.build({}, {"HANDTONE_ENV_FILE": "/nonexistent"})
    with pytest.raises(Exception):
        s.player = "x"


@pytest.mark.parametrize("cli,message", [
    ({"difficulty": "insane"}, "difficulty must be one of"),
    ({"music_volume": 2}, "music-volume must be between 0 and 1"),
    ({"latency": "fast"}, "latency must be low, high or milliseconds"),
    ({"latency": "0"}, "latency must be low, high or milliseconds"),
    ({"music_latency": "slow"}, "music-latency must be low, high or milliseconds"),
    ({"tempo": "0"}, "tempo must be a factor between 0.25 and 4"),
    ({"snap": "major"}, "snap must be one of off, scale, chromatic"),
    ({"music_backend": "sdl"}, "music-backend must be one of pyaudio, simpleaudio"),
    ({"block": "many"}, "--block: 'many' is not a whole number"),
    ({"count_in": -1}, "count-in must be 0..30 seconds"),
    ({"detector": "magic"}, "detector 'magic' does not exist: use one of auto, landmarks, classic"),
    ({"landmark_threads": -1}, r"landmark-threads must be 0 \(automatic\) to 16, got -1"),
    ({"landmark_threads": "two"}, "--landmark-threads: 'two' is not a whole number"),
    ({"player": "  "}, "player must be a name .* leave out --player to play as .Player."),
])
def test_bad_values_say_what_is_wrong(cli, message):
    with pytest.raises(settings.SettingsError, match=message):
        settings.build(cli, {"HANDTONE_ENV_FILE": "/nonexistent"})


def test_smtp_from_env_and_password_never_in_repr():
    env = {"HANDTONE_ENV_FILE": "/nonexistent", "SMTP_HOST": "mail.example", "SMTP_SECURITY": "ssl",
           "SMTP_USER": "me", "SMTP_PASSWORD": "s3cret-pw", "SMTP_TO": "a@x, b@y"}
    s = settings.build({}, env)
    assert s.smtp.configured and s.smtp.port == 465 and s.smtp.to == ("a@x", "b@y")
    assert "s3cret-pw" not in repr(s) and "s3cret-pw" not in str(s.smtp)


def test_smtp_host_without_recipient_fails_early():
    with pytest.raises(settings.SettingsError, match="SMTP_TO"):
        settings.build({}, {"HANDTONE_ENV_FILE": "/nonexistent", "SMTP_HOST": "mail.example"})


def test_errors_name_the_environment_variable_that_set_the_value(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("HANDTONE_DIFFICULTY=extreme\n")
    with pytest.raises(settings.SettingsError, match=r"HANDTONE_DURATION \(from the environment\): 'abc' is not a number"):
        settings.build({}, {"HANDTONE_ENV_FILE": "/nonexistent", "HANDTONE_DURATION": "abc"})
    with pytest.raises(settings.SettingsError, match=r"got 'extreme' \[set by HANDTONE_DIFFICULTY \(from .env\)\]"):
        settings.build({}, {"HANDTONE_ENV_FILE": str(env_file)})

"""The command line: `python main.py play|demo|peek ...`.

Exit codes: 0 for a session that finished or was stopped by the player; 1 when it ended because a process died;
2 when it could not start or a setting is wrong. Errors are one line on stderr saying what to do.
"""
from __future__ import annotations

import argparse
import sys

from game import benchall
from game import settings as settings_mod
from game import song as song_mod

EPILOG = """examples:
  python main.py demo                      play the demo song with the built-in demo camera clip
  python main.py play --camera 0           play with webcam 0 (hand nearer the camera = higher note)
  python main.py play --camera clip.mp4 --song twinkle --difficulty easy
  python main.py play --camera http://192.168.1.20:8080/video     a phone camera app's MJPEG stream
  python main.py peek                      in another terminal: watch the live hand state

settings can also come from the environment or .env as HANDTONE_<OPTION> (e.g. HANDTONE_CAMERA=1);
email settings are SMTP_* (see .env.example)."""


#: options of a live session only, left out of `analyze` (no camera, sound devices or video to record offline)
LIVE_ONLY = {"--duration", "--no-window", "--music-volume", "--latency", "--music-latency", "--block",
             "--music-backend", "--mic-delay", "--input-device", "--output-device", "--count-in", "--loop-video",
             "--record-video", "--landmark-threads"}


def _session_options(p: argparse.ArgumentParser, demo: bool, offline: bool = False) -> None:
    def add(*names, **kw) -> None:
        if not (offline and names[0] in LIVE_ONLY):
            p.add_argument(*names, **kw)

    if not demo:
        add("--camera", metavar="SRC",
            help="webcam index (0, 1, ...), a video file, a stream URL (http://, rtsp://), or 'demo' "
                 "(default: 0)")
    add("--song", metavar="NAME|PATH",
        help=f"a bundled song ({', '.join(song_mod.available_songs())}) or a song file "
             f"(default: {song_mod.DEMO_SONG})")
    add("--duration", type=float, metavar="SECONDS",
        help="stop after this many seconds of the song (time paused does not count)")
    add("--out", dest="out_dir", metavar="DIR", help="where session folders go (default: sessions/)")
    add("--no-window", dest="window", action="store_const", const=False,
        help="no game window (headless); the default shows one when a display is there")
    add("--difficulty", choices=list(settings_mod.DIFFICULTIES),
        help="hit tolerance: easy +-2, medium +-1, hard +-0.5 semitones (default: medium)")
    add("--player", help="the player's name on the scorecard (default: Player)")
    add("--music-volume", type=float, metavar="0..1", help="backing track volume, 0 mutes it (default 0.5)")
    add("--synth-volume", type=float, metavar="0..1", help="the hand tone's volume (default 0.6)")
    add("--transpose", type=int, metavar="SEMITONES", help="move the song up or down (default 0)")
    add("--tempo", type=float, metavar="FACTOR",
        help="play the song faster or slower: 1.25 is a quarter faster, 0.8 slower (default 1)")
    add("--songs-dir", metavar="DIR", help="your own songs folder, for --song NAME (default: where "
        "`python main.py songs` says)")
    add("--voice", type=int, choices=[1, 2], help="duet songs: play voice 1 or 2 (default 1)")
    add("--track", metavar="INDEX|NAME",
        help="MIDI songs: the melody track, by index or part of its name (default: the highest "
             "one-note-at-a-time line)")
    add("--latency", metavar="low|high|MS",
        help="the hand tone's output latency: low (default), high (safer on a busy machine) or "
             "milliseconds")
    add("--music-latency", metavar="low|high|MS",
        help="the backing's output latency: high (default; the backing is played by its speaker times, so "
             "a longer buffer keeps it in time and lets it ride out a busy moment), low or milliseconds")
    add("--block", type=int, metavar="FRAMES", help="audio frames per callback (default 128: 2.7 ms at 48 kHz)")
    add("--music-backend", choices=list(settings_mod.MUSIC_BACKENDS),
        help="what plays the backing: pyaudio (default) or simpleaudio (Python 3.11 and older only)")
    add("--mic-delay", dest="mic_delay_ms", type=float, metavar="MS",
        help="the speaker-to-microphone delay to align the recording by (default: the one measured "
             "by `python main.py calibrate-audio`, else 0)")
    add("--vibrato", dest="vibrato_cents", type=float, metavar="CENTS",
        help="vibrato depth of the hand tone, 0..100 cents (default 0: none)")
    add("--vibrato-hz", type=float, metavar="HZ", help="vibrato rate (default 5.5)")
    add("--snap", choices=list(settings_mod.SNAPS),
        help="pull the hand's pitch towards notes: off (default), scale (the song's notes) or chromatic")
    add("--snap-strength", type=float, metavar="0..1",
        help="how hard --snap pulls: 0 none, 1 exactly on the note (default 0.5)")
    add("--input-device", metavar="INDEX|NAME", help="microphone: index or part of its name")
    add("--output-device", metavar="INDEX|NAME", help="speaker: index or part of its name")
    add("--count-in", type=float, metavar="SECONDS", help="pause before the song starts (default 1)")
    add("--detector", choices=list(settings_mod.DETECTORS),
        help="hand tracking: landmarks (MediaPipe Hands models), classic (skin colour, OpenCV only) or "
             "auto: landmarks when its models are installed (default: auto)")
    add("--landmark-model", choices=list(settings_mod.LANDMARK_MODELS),
        help="landmarks model size: lite is faster, full a little more precise (default: lite)")
    add("--landmark-threads", type=int, metavar="N",
        help="threads the landmark model runs on while you play: 2 reads a frame ~1 ms sooner (2 ms when the hand "
             "jumps) for ~15%% more CPU (default 0: 2 on a machine with 2 cores or more)")
    add("--pitch-hand", choices=list(settings_mod.HANDS),
        help="the hand that sets the pitch; the other hand, raised or lowered, sets the volume "
             "(default: right)")
    add("--loop-video", action="store_const", const=True,
        help="a video file as --camera (or the demo clip) starts again when it ends")
    add("--record-video", action="store_const", const=True,
        help="also write the annotated session as session.mp4, and the camera's own picture as camera.mp4 (for "
             "`analyze`), in the session folder")
    _scoring_options(p)
    add("--data-dir", metavar="DIR", help="where the history and the email outbox are kept (default: your "
        "user data folder, ~/.local/share/handtone on Linux, %%LOCALAPPDATA%%\\handtone on Windows, "
        "~/Library/Application Support/handtone on macOS; or HANDTONE_DATA_DIR)")


def _scoring_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--octave-fold", action="store_const", const=True,
                   help="a note played whole octaves off counts as the target (singing games' octave folding)")
    p.add_argument("--delay", metavar="auto|MS",
                   help="your delay, applied before scoring: milliseconds you play late (e.g. 140), or auto: the lag "
                        "that best lines your playing up with the song, found from the session (default 0; the "
                        "estimate is always in the report)")


class _Parser(argparse.ArgumentParser):
    """A mistake on the command line is one line, as every other start-up error is (argparse puts the whole usage
    above it: 20 lines for a session command), and says where the options are listed."""

    def error(self, message: str):
        if message.endswith("required: COMMAND"):    # `python main.py` alone: what can it do?
            self.print_help(sys.stderr)
            self.exit(2)
        self.exit(2, f"handtone: error: {self.prog}: {message} (`{self.prog} --help` lists the options)\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="python main.py", description="handtone: play a song by moving your hand nearer to and farther from "
        "the camera. A session writes a folder with recording.wav, performance.wav, notes.csv, score.json, "
        "stats.json, report.pdf and summary.eml.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    play = sub.add_parser("play", help="play a session", description="Play a session: the camera sets the "
                          "pitch, the song plays, the microphone records; reports are written when it ends "
                          "(song end, --duration, q or Esc in the window, Ctrl-C). p in the window, or SIGUSR1 "
                          "to this process, pauses the song and plays on.")
    _session_options(play, demo=False)
    demo = sub.add_parser("demo", help="play with the built-in demo camera clip (no camera needed)",
                          description="Same as `play --camera demo`: a synthetic hand plays the song (default "
                          f"{song_mod.DEMO_SONG}), so a whole session runs without a camera.")
    _session_options(demo, demo=True)
    peek = sub.add_parser("peek", help="print a running session's hand state live",
                          description="Attach to a running session's hand-state shared memory (read only) and "
                          "print it live. Without NAME, the newest running session (Linux; on macOS and Windows "
                          "give the session's number, which it prints when it starts).")
    peek.add_argument("name", nargs="?", help="the shared-memory name (e.g. handtone-1234-hand) or the session's "
                      "launcher pid")
    peek.add_argument("--count", type=int, help="print this many lines, then exit (default: until Ctrl-C)")
    peek.add_argument("--interval", type=float, default=0.1, help="seconds between lines (default 0.1)")
    sub.add_parser("cameras", help="list the webcams that open (for --camera)",
                   description="Try each webcam and list those that deliver a picture, with their index (for "
                   "--camera INDEX) and size. A video file, a stream URL and 'demo' work with --camera too.")
    sub.add_parser("devices", help="list audio devices (for --input-device / --output-device)",
                   description="List PortAudio's audio devices: index, name, inputs and outputs, defaults marked. "
                   "--input-device and --output-device take an index or part of a name.")
    bench = sub.add_parser("bench", help="measure speed and print the figures",
                           description="Benchmarks that print figures, each target with pass/short beside it, and "
                           "keep them as JSON and a PNG plot in --results. ipc: the hand state one way through our "
                           "shared-memory seqlock, multiprocessing.Queue, Pipe and a pickle file, and a 640x480 frame "
                           "through shared memory and a Queue. vision: each detector's fps and ms per frame at "
                           "640x480, on one pinned thread, on a session's threads and on OpenCV's/LiteRT's default "
                           "threads. pipeline: capture -> "
                           "detect -> draw sequentially, with threads, with processes and a process pool. latency: a "
                           "headless session on a clip whose hand jumps at known frames, motion-to-sound p50/p95/p99. "
                           "audio: a long headless demo session (default 10 minutes) with vision at full rate: "
                           "underflows by flag and by wall clock, every process's memory over time. startup: "
                           "launcher start to all children ready and to the first tone. report: the reports of a "
                           "3-minute session, timed. all: every one of them, then the targets side by side.")
    bench.add_argument("what", choices=[*benchall.ORDER, "all"], help="what to measure")
    bench.add_argument("--frames", type=int, help="vision: frames per detector (default 400); ipc: 640x480 "
                       "frames sent (default 200); pipeline: frames (default 300)")
    bench.add_argument("--workers", type=int, help="pipeline: threads or processes (default: the cores)")
    bench.add_argument("--messages", type=int, default=5000, help="ipc: hand states sent per method (default 5000)")
    bench.add_argument("--results", metavar="DIR", default="bench-results",
                       help="where the JSON and PNG go (default bench-results/)")
    bench.add_argument("--minutes", type=float, default=10.0, help="audio: session length in minutes (default 10)")
    bench.add_argument("--seconds", type=float, help="audio: session length in seconds (instead of --minutes); "
                       "latency: session length (default 60)")
    bench.add_argument("--runs", type=int, help="startup: sessions timed after one to set up (default 5); report: "
                       "times the reports are rebuilt (default 3)")
    bench.add_argument("--report-minutes", type=float, default=3.0,
                       help="report: length of the session whose reports are timed (default 3)")
    bench.add_argument("--block", type=int, metavar="FRAMES", help="audio, latency: frames per callback "
                       "(default: as play)")
    bench.add_argument("--latency", metavar="low|high|MS", help="audio, latency: output latency (default: as play, "
                       "low)")
    bench.add_argument("--music-latency", metavar="low|high|MS",
                       help="audio: the backing's output latency (default: as play, high)")
    bench.add_argument("--detector", choices=list(settings_mod.DETECTORS),
                       help="audio, latency, startup: the session's detector")
    bench.add_argument("--landmark-threads", type=int, metavar="N",
                       help="vision, latency, audio: the landmark model's threads in a session (default: as play, "
                       "2 on a machine with 2 cores or more)")
    bench.add_argument("--null-sink", action="store_true",
                       help="audio, latency, startup, report: play into a private PulseAudio null sink (Linux; needs "
                       "pulseaudio)")
    bench.add_argument("--keep", metavar="DIR", help="audio, latency: keep the session folder in DIR")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    # -- analyze (game/analyze.py) --
    analyze = sub.add_parser("analyze", help="detect the hand in a recorded video, in parallel, and score it",
                             description="Run hand detection over a recorded video (a session recorded with "
                             "--record-video, or any clip) in parallel and write the notes, score and scorecard a "
                             "live session would: a session's as it was played (its song and settings), a clip's for "
                             "--song. Prints per-frame time, total time, CPU utilisation and the speedup against a "
                             "sequential run of the same video. The results are the same whatever --workers and "
                             "--mode.")
    analyze.add_argument("video", metavar="VIDEO", help="a video file, or a session recorded with --record-video "
                         "(its folder or session.mp4: the camera's own pictures, camera.mp4, are analysed)")
    analyze.add_argument("--workers", type=int, help="threads or processes detecting at once (default: the cores)")
    analyze.add_argument("--mode", choices=["threads", "processes"], default="threads",
                         help="run the workers as threads (OpenCV releases the GIL) or processes (default threads)")
    analyze.add_argument("--no-compare", dest="compare", action="store_false",
                         help="skip the sequential run the speedup is measured against")
    analyze.add_argument("--json", action="store_true", help="print the figures as JSON")
    _session_options(analyze, demo=True, offline=True)
    # -- calibrate (vision/calibrate.py) --
    cal = sub.add_parser("calibrate", help="learn your skin colour and hand sizes for the classic detector",
                         description="About 13 s: step out of the picture (the empty room), hold your open hand in "
                         "the box (your skin colour), then near and far from the camera (your pitch range). Saved "
                         "per player in calibration/ in your config folder (~/.config/handtone on Linux; "
                         "HANDTONE_CALIBRATION_DIR) and used by the classic detector from then on. Works with any "
                         "--camera; without a window the prompts are printed and the timing is fixed.")
    cal.add_argument("--camera", metavar="SRC", help="webcam index, video file, stream URL, or 'demo' (default: 0)")
    cal.add_argument("--player", help="whose calibration this is (default: Player)")
    cal.add_argument("--no-window", dest="window", action="store_const", const=False,
                     help="no window: prompts on the terminal, fixed timing")
    # -- calibrate-audio (audio/roundtrip.py) --
    cal_audio = sub.add_parser("calibrate-audio", help="measure the speaker-to-microphone delay",
                               description="Play a few beeps on the speaker while the microphone records, and "
                               "measure how late the recording hears them (the session's own playing and "
                               "recording code). Saved per pair of devices in audio-delay.json in your config "
                               "folder (~/.config/handtone on Linux; HANDTONE_AUDIO_DELAY_FILE); sessions with "
                               "those devices line recording.wav up with what was played by it (--mic-delay "
                               "overrides). Put the microphone near the speaker and keep the room quiet. A beep "
                               "off the others is left out. Exit code 1 when too few beeps are heard or agree "
                               "(nothing is saved), 2 when a device cannot be used.")
    cal_audio.add_argument("--input-device", metavar="INDEX|NAME", help="microphone: index or part of its name")
    cal_audio.add_argument("--output-device", metavar="INDEX|NAME", help="speaker: index or part of its name")
    cal_audio.add_argument("--beeps", type=int, default=5, metavar="N", help="how many beeps, 3..20 (default 5)")
    cal_audio.add_argument("--block", type=int, metavar="FRAMES",
                           help="audio frames per callback, as the sessions you will play (default: as play)")
    cal_audio.add_argument("--latency", metavar="low|high|MS",
                           help="audio latency, as the sessions you will play (default: as play, low)")
    # -- songs (game/songlist.py) --
    songs = sub.add_parser("songs", help="list the songs you can play, or show one's notes",
                           description="List the bundled songs and those in your song folder (--songs-dir, "
                           "HANDTONE_SONGS_DIR, default songs/ in your user data folder, ~/.local/share/handtone "
                           "on Linux): name (for --song), title, artist, notes, range, length, format. `songs show` "
                           "prints a song's notes as CSV.")
    songs.add_argument("--songs-dir", metavar="DIR", default=argparse.SUPPRESS, help="your song folder")
    songs_sub = songs.add_subparsers(dest="songs_command", metavar="show")
    show = songs_sub.add_parser("show", help="print a song's notes as CSV: start_s,duration_s,midi,kind,line,lyric",
                                description="Print the notes a session would play, as CSV (start_s, duration_s, "
                                "midi, kind, line, lyric), with the same --tempo, --voice, --track and --transpose "
                                "(and HANDTONE_* settings) as play: the transpose is added to midi, times are "
                                "seconds from the song's start at the chosen tempo.")
    show.add_argument("song", metavar="PATH|NAME", help="a song file, a bundled song or one in your song folder")
    show.add_argument("--songs-dir", metavar="DIR", default=argparse.SUPPRESS, help="your song folder")
    show.add_argument("--tempo", type=float, metavar="FACTOR", help="speed factor (default 1)")
    show.add_argument("--voice", type=int, choices=[1, 2], help="duet songs: voice 1 or 2 (default 1)")
    show.add_argument("--track", metavar="INDEX|NAME", help="MIDI songs: the melody track")
    show.add_argument("--transpose", type=int, metavar="SEMITONES", help="added to midi (default 0)")

    report = sub.add_parser("report", help="rebuild a session's score, scorecard and email draft from its logs",
                            description="Score a finished session again from its folder (synth.csv and the other "
                            "logs) and write score.json, notes.csv, stats.json, report.pdf and summary.eml (a draft: "
                            "nothing is sent). Difficulty, player, octave folding and delay are the session's own "
                            "unless given here; the history keeps the new score.")
    report.add_argument("session_dir", metavar="SESSION_DIR", help="a session folder (sessions/<date>-<song>)")
    report.add_argument("--difficulty", choices=list(settings_mod.DIFFICULTIES), help="score at this difficulty")
    report.add_argument("--player", help="the name on the scorecard")
    _scoring_options(report)
    report.add_argument("--data-dir", metavar="DIR", help="where the history is kept")

    history = sub.add_parser("history", help="your past sessions and personal bests",
                             description="Every session's date, song, difficulty, score, rating and key timing "
                             "figures, newest last; * marks each song's personal best (per difficulty).")
    history.add_argument("--song", metavar="NAME", help="only this song (part of its name or title)")
    history.add_argument("--player", metavar="NAME", help="only this player's sessions (the name, any case)")
    history.add_argument("--data-dir", metavar="DIR", help="where the history is kept")

    outbox = sub.add_parser("outbox", help="emails that could not be sent: list them, or send them now",
                            description="A session's email that could not be sent waits in the outbox folder "
                            "(in the data folder). `outbox` lists it; `outbox send` tries every queued email again "
                            "with the SMTP_* settings and removes those sent.")
    outbox.add_argument("outbox_command", nargs="?", choices=["list", "send"], default="list")
    outbox.add_argument("--data-dir", metavar="DIR", help="where the outbox is kept")

    email_test = sub.add_parser("email-test", help="send a test email with the SMTP_* settings",
                                description="Send a short test message to SMTP_TO with the SMTP_* settings from "
                                ".env or the environment, and say plainly what failed if it does not go.")
    email_test.add_argument("--data-dir", metavar="DIR", help=argparse.SUPPRESS)
    return top


def run_after_session(args) -> int:
    """The commands about finished sessions: report, history, outbox, email-test (each module's run_command
    takes the parsed arguments and the settings, and returns the exit code)."""
    cli = {k: v for k, v in vars(args).items()
           if k in ("difficulty", "player", "octave_fold", "delay", "data_dir")}
    try:
        settings = settings_mod.build(cli)
    except settings_mod.SettingsError as e:
        return fail(str(e))
    if args.command == "report":
        from reports.build import run_command
    elif args.command == "history":
        from reports.history import run_command
    else:
        from reports.outbox import run_command
    return run_command(args, settings)


def run_calibrate(args) -> int:
    from vision.calibrate import run_command
    try:
        settings = settings_mod.build({"camera": args.camera, "player": args.player, "window": args.window})
    except settings_mod.SettingsError as e:
        return fail(str(e))
    return run_command(settings)


def run_calibrate_audio(args) -> int:
    from audio.roundtrip import run_command
    if not 3 <= args.beeps <= 20:
        return fail(f"--beeps must be 3..20, got {args.beeps}")
    try:
        settings = settings_mod.build({"input_device": args.input_device, "output_device": args.output_device,
                                       "block": args.block, "latency": args.latency})
    except settings_mod.SettingsError as e:
        return fail(str(e))
    return run_command(settings, args.beeps)


def run_bench(args) -> int:
    """One benchmark (or all of them, game/benchall.py): measure, print, keep the JSON and PNG."""
    try:
        settings_mod.build({"landmark_threads": args.landmark_threads})   # a bad value: said now, not mid-run
        if args.what == "all":
            return benchall.run_all(args)
        benchall.run_one(args.what, args)
    except benchall.BenchFailed as e:
        return fail(f"bench {args.what}: {e}", 1)
    except (settings_mod.SettingsError, song_mod.SongError) as e:
        return fail(f"bench {args.what}: {e}")
    return 0


def run_analyze(args) -> int:
    """python main.py analyze VIDEO: detection over a recorded video in parallel, then the session's reports."""
    from pathlib import Path
    from game.analyze import AnalyzeError, choose_video, run_command, session_of, song_from_session, voice_from_session
    from reports.build import SESSION_FIELDS, with_session

    def say(text: str) -> None:   # with --json, stdout holds only the JSON
        print(f"handtone: {text}", flush=True, file=sys.stderr if args.json else sys.stdout)

    try:   # a session's session.mp4 or folder: its camera.mp4
        video = choose_video(Path(args.video), say)
    except AnalyzeError as e:
        return fail(f"analyze: {e}")
    if not video.is_file():
        return fail(f"analyze: {video} is not a file: give a video file, e.g. sessions/<session>/camera.mp4")
    if args.workers is not None and args.workers < 1:
        return fail("--workers must be 1 or more")
    # a session's own video is scored as the session was played: its song, voice, track, tempo, difficulty, player,
    # octave folding, delay and transpose from its session.json, and the hand tone replayed as it sounded (block,
    # snapping, vibrato, glide, pitch range, pitch hand, detector), unless given here
    session = session_of(video)
    given = {k for k, v in vars(args).items() if v is not None}
    replayed = voice_from_session(session, video.parent, given, args.detector) if session else {}
    session_range = {"area_far", "area_near"} <= replayed.keys()   # else the player's calibration, as live
    try:
        settings = _settings_from(args, demo=False, drop=("video", "workers", "mode", "compare", "json"),
                                  camera=str(video), window=False,
                                  **(song_from_session(session, given) if session else {}), **replayed)
        if session:
            settings = with_session(settings, session, {k for k in SESSION_FIELDS if k in given})
        song = song_mod.load_for(settings)
    except (settings_mod.SettingsError, song_mod.SongError) as e:
        return fail(str(e))
    if session:
        say(f"scored as {video.parent.name} was played (its session.json): {song.title}, {settings.difficulty}, "
            f"player {settings.player}, {settings.detector} detector, snap {settings.snap}"
            + ("" if session_range else
               " (the session kept no pitch range: the player's calibration or the default is used)"))
    if not session_range:
        from vision.calibration import session_settings
        settings = session_settings(settings, say)   # the player's calibration sets the pitch range as in a session
    try:
        return run_command(settings, song, video, workers=args.workers, mode=args.mode, compare=args.compare,
                           as_json=args.json)
    except AnalyzeError as e:
        return fail(f"analyze: {e}")


def list_cameras() -> int:
    from vision.sources import list_cameras as probe
    cameras = probe()
    for cam in cameras:
        print(f"{cam['index']:3d}  {cam['name']}  ({cam['width']}x{cam['height']})")
    if not cameras:
        from vision.sources import camera_permission_hint
        print("no webcam opens on this machine" + camera_permission_hint())
    print("--camera also takes: demo (a built-in clip), a video file, or a stream URL (http://..., rtsp://...)")
    return 0


def list_audio_devices() -> int:
    from audio.devices import list_devices
    try:
        devices = list_devices()
    except (IOError, OSError) as e:
        return fail(f"PortAudio cannot start ({e}): is an audio system installed?")
    for d in devices:
        marks = [m for m, on in (("default input", d["default_input"]), ("default output", d["default_output"])) if on]
        print(f"{d['index']:3d}  {d['name']}  [{d['host_api']}]  in {d['inputs']}, out {d['outputs']}"
              f"{'  (' + ', '.join(marks) + ')' if marks else ''}")
    if not devices:
        print("no audio devices: sessions play silently (performance.wav is still made) and do not record")
    return 0


def _settings_from(args: argparse.Namespace, demo: bool, drop: tuple = (), **fixed):
    """Settings from the command's options (less ``drop``, the command's own), ``fixed`` ones set here."""
    cli = {k: v for k, v in vars(args).items() if k not in ("command", *drop)} | fixed
    if demo:
        cli["camera"] = "demo"
    return settings_mod.build(cli)


def fail(text: str, code: int = 2) -> int:
    print(f"handtone: error: {text}", file=sys.stderr, flush=True)
    return code


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.command == "peek":
        from game.peek import peek
        return peek(args.name, args.count, args.interval)
    if args.command == "cameras":
        return list_cameras()
    if args.command == "devices":
        return list_audio_devices()
    if args.command == "bench":
        return run_bench(args)
    if args.command == "calibrate":
        return run_calibrate(args)
    if args.command == "calibrate-audio":
        return run_calibrate_audio(args)
    if args.command == "songs":
        from game.songlist import run_command as run_songs
        return run_songs(args)
    if args.command in ("report", "history", "outbox", "email-test"):
        return run_after_session(args)
    if args.command == "analyze":
        return run_analyze(args)
    try:
        settings = _settings_from(args, demo=args.command == "demo")
        song = song_mod.load_for(settings)
    except (settings_mod.SettingsError, song_mod.SongError) as e:
        return fail(str(e))
    # -- music backend (audio/simpleplayer.py): simpleaudio only where it works --
    from audio.simpleplayer import backend_problem
    if (problem := backend_problem(settings)) is not None:
        return fail(problem)
    from game.launcher import run_session
    from vision.calibration import session_settings
    # the player's own near/far hand sizes (python main.py calibrate) set the pitch range, as their detector measures
    settings = session_settings(settings, lambda text: print(f"handtone: {text}", flush=True))
    result = run_session(settings, song)
    if result.session_dir is None:
        code = fail(result.reason, result.exit_code)
        for line in result.unsaid:   # a start that timed out or was stopped: what the children said may explain it
            print(f"handtone: (during start-up) {line}", file=sys.stderr)
        return code
    print(f"handtone: session ended: {result.reason}")
    summary = result.summary
    if summary is not None:
        print(f"handtone: score {summary.total} ({summary.rating})")
        for line in getattr(summary, "warnings", []) or []:
            print(f"handtone: warning: {line}")
        if getattr(summary, "email_status", None):
            print(f"handtone: {summary.email_status}")
    print(f"handtone: session folder {result.session_dir}")
    if result.exit_code:
        print(f"handtone: error: {result.reason}", file=sys.stderr)
    return result.exit_code

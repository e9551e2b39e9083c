"""The columns of the session's CSV logs: one definition for the process that writes a log and the reports that
read it (a renamed column then breaks loudly in tests, not quietly in a report).

Times are session seconds since t0 unless the name says ms.
"""

#: frames.csv (vision): one row per camera frame
FRAME_COLUMNS = ("frame_index", "t_capture", "capture_ms", "detect_ms", "total_ms", "present", "area", "cx", "cy")
#: synth.csv (synth): one row per audio block; latency_ms = t_dac - t_capture of the first block reflecting a frame
SYNTH_COLUMNS = ("t_dac", "midi", "hz", "amplitude", "frame_index", "t_capture", "latency_ms")
#: music.csv (music): one row per ~50 ms of backing played
MUSIC_COLUMNS = ("t_dac", "song_t", "level")
#: levels.csv (recorder): microphone level per ~50 ms
LEVEL_COLUMNS = ("t", "rms_dbfs")

"""`bench ipc` on a small size: its figures are sane and self-consistent, torn reads are counted, and nothing is
left in /dev/shm or /tmp, even when a writer child is killed. Never how fast anything is (that is printed, not
asserted)."""
import json
import multiprocessing as mp
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest

from game import ipcbench

SHM = Path("/dev/shm")


def _ours() -> set:
    """Our segments (named after this process) and our pickle folders."""
    shm = {p.name for p in SHM.glob(f"handtone-bench{os.getpid()}-*")}
    tmp = {p.name for p in Path(tempfile.gettempdir()).glob("handtone-ipcbench-*")}
    return shm | tmp


@pytest.fixture(scope="module")
def small():
    before = _ours()
    result = ipcbench.bench_ipc(messages=300, frames=20)
    return result, before, _ours()


def _all_methods(result):
    for group, methods in (("hand_state", ipcbench.HAND_METHODS), ("frame", ipcbench.FRAME_METHODS)):
        for key in methods:
            yield f"{group}/{key}", result[group][key]


def test_every_method_has_latencies_in_order_and_counts_that_add_up(small):
    result, _, _ = small
    sizes = {"hand_state": 300, "frame": 20}
    for name, r in _all_methods(result):
        assert r["sent"] == sizes[name.split("/")[0]], name
        assert r["received"] + r["lost"] == r["sent"], name
        assert 0 < r["received"] <= r["reads"], name
        assert r["torn"] + r["failed"] <= r["reads"], name
        assert r["partial"] <= r["torn"], name
        assert 0 < r["min_us"] <= r["median_us"] <= r["p99_us"] <= r["max_us"], name


def test_queue_and_pipe_deliver_every_message(small):
    result, _, _ = small
    for key in ("queue", "pipe"):
        assert result["hand_state"][key]["lost"] == 0, key
    assert result["frame"]["queue"]["lost"] == 0


def test_shared_memory_never_returns_a_torn_read(small):
    result, _, _ = small
    seqlock = result["hand_state"]["seqlock"]
    assert seqlock["torn"] == 0
    assert seqlock["reads"] > seqlock["received"], "the reader was not spinning: the torn count proved nothing"
    assert result["frame"]["shm_ring"]["torn"] == 0


def test_pickle_files_count_their_torn_reads(small):
    result, _, _ = small
    in_place, replaced = result["hand_state"]["pickle_inplace"], result["hand_state"]["pickle_replace"]
    assert "torn" in in_place and in_place["torn"] >= 0
    assert in_place["partial"] <= in_place["torn"]
    # os.replace swaps whole files: a reader can never open a half-written one
    assert replaced["partial"] == 0 and replaced["torn"] == 0


def test_target_is_the_ratio_of_the_medians_and_the_result_is_json(small):
    result, _, _ = small
    t = result["target"]
    expected = round(result["hand_state"]["queue"]["median_us"] / result["hand_state"]["seqlock"]["median_us"], 1)
    assert t["ratio"] == expected
    assert t["pass"] == (expected >= 20)
    assert result["machine"]["cores"] >= 1 and result["machine"]["python"] and result["machine"]["numpy"]
    assert json.loads(json.dumps(result)) == result


def test_nothing_is_left_in_dev_shm_or_tmp(small):
    _, before, after = small
    assert after == before == set()


def test_table_names_every_method_and_the_target(small):
    result, _, _ = small
    table = ipcbench.format_ipc(result)
    for label in list(ipcbench.HAND_METHODS.values()) + list(ipcbench.FRAME_METHODS.values()):
        assert label in table
    target_line = [line for line in table.splitlines() if "seqlock >= 20x Queue" in line]
    assert len(target_line) == 1
    assert target_line[0].endswith("pass" if result["target"]["pass"] else "short")


def test_plot_is_a_png(small, tmp_path):
    result, _, _ = small
    path = ipcbench.plot_ipc(result, tmp_path / "ipc.png")
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _kill_first_child(killed: list):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = mp.active_children()
        if children:
            time.sleep(0.5)   # let it attach and start writing
            children[0].kill()
            killed.append(children[0].name)
            return
        time.sleep(0.01)


@pytest.mark.parametrize("run", [
    lambda: ipcbench.bench_ipc(messages=200_000, frames=20),
    lambda: ipcbench._frame_ring(mp.get_context("spawn"), str(os.getpid()), 20_000, ipcbench.FRAME_GAP_S),
    lambda: ipcbench._hand_pickle(mp.get_context("spawn"), str(os.getpid()), 200_000, ipcbench.MESSAGE_GAP_S,
                                  in_place=True),
], ids=["seqlock", "frame-ring", "pickle"])
def test_a_killed_writer_fails_the_bench_and_leaves_nothing_behind(run):
    before = _ours()
    killed = []
    killer = threading.Thread(target=_kill_first_child, args=(killed,), daemon=True)
    killer.start()
    with pytest.raises(ipcbench.WriterFailed, match="died"):
        run()
    killer.join(5)
    assert killed, "no writer child was started"
    assert not mp.active_children()
    assert _ours() == before == set()


def test_bench_ipc_from_the_command_line_writes_its_json_and_plot(tmp_path):
    from conftest import run_app
    proc = run_app("bench", "ipc", "--messages", "300", "--frames", "10", "--results", tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "shared-memory seqlock" in proc.stdout and "target seqlock >= 20x Queue" in proc.stdout
    saved = json.loads((tmp_path / "ipc.json").read_text())
    assert saved["hand_state"] and saved["target"] and (tmp_path / "ipc.png").stat().st_size > 1000

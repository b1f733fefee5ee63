import os
import stat

import pytest

from tracestrata.io.atomic import atomic_write_text, atomic_writer


def test_replaces_in_one_step_and_keeps_nothing_on_error(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_text(target, "one")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_new_files_follow_the_umask_and_existing_modes_are_kept(tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "new.txt"
        atomic_write_text(target, "x")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        target.chmod(0o600)
        atomic_write_text(target, "y")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    finally:
        os.umask(old)

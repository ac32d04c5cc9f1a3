"""digits.files: a file is replaced whole or not at all."""

import json

import pytest

from digits.files import building_dir, partial_path, replacing, write_json, write_text


def test_the_temporary_keeps_the_whole_name_so_writers_keep_their_format(tmp_path):
    tmp = partial_path(tmp_path / "001.weights.h5")
    assert tmp.parent == tmp_path and tmp.name.startswith(".")
    assert tmp.name.endswith("001.weights.h5")


def test_a_finished_write_replaces_the_file(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("old")
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert target.read_text().endswith("\n")
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_write_text_creates_a_new_file(tmp_path):
    write_text(tmp_path / "a.txt", "x")
    assert (tmp_path / "a.txt").read_text() == "x"


def test_building_dir_replaces_the_directory_whole_or_not_at_all(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with building_dir(out) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("killed half way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    with building_dir(out) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]


def test_a_built_directory_has_the_permissions_of_one_made_with_mkdir(tmp_path):
    (tmp_path / "plain").mkdir()
    with building_dir(tmp_path / "built"):
        pass
    assert (tmp_path / "built").stat().st_mode == (tmp_path / "plain").stat().st_mode

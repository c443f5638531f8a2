"""distil_sdk._fs: atomic file writes, folder swaps, the folder lock and the free-space check."""

from __future__ import annotations

import os
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distil_sdk import _fs
from distil_sdk._archive import safe_extract
from distil_sdk._errors import DistilError, ModelLoadError
from distil_sdk._fs import (
    FolderLock,
    atomic_writer,
    copy_file_atomic,
    ensure_free_space,
    publish_file,
    publish_folder,
    staged_folder,
    write_bytes_atomic,
    write_text_atomic,
)

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX modes and locks")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def umask_027() -> Iterator[int]:
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


# ------------------------------------------------------------------------------------- files


def test_a_failure_mid_write_leaves_the_old_content_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk went away"), atomic_writer(target) as out:
        out.write(b"half of the new con")
        raise RuntimeError("disk went away")
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["result.json"]


def test_a_failing_rename_leaves_the_old_content_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("old")

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_fs.os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        write_text_atomic(target, "new")
    assert target.read_text() == "old" and _names(tmp_path) == ["config.yaml"]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out" / "model.tar"
    link.parent.mkdir()
    link.symlink_to(victim)
    write_bytes_atomic(link, b"new")
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert victim.read_text() == "keep me"


@posix_only
def test_the_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "shared.csv"
    target.write_text("old")
    target.chmod(0o640)
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o640
    copy_file_atomic(target, tmp_path / "copy.csv")
    target.chmod(0o604)
    with atomic_writer(target) as out:
        out.write(b"newer")
    assert _mode(target) == 0o604


@posix_only
def test_a_new_file_gets_the_mode_open_would_give_not_mkstemps_0600(
    tmp_path: Path, umask_027: int
) -> None:
    assert _mode(write_bytes_atomic(tmp_path / "new.bin", b"x")) == 0o640
    assert _mode(write_bytes_atomic(tmp_path / "token", b"s", mode=0o600)) == 0o600


def test_replace_false_refuses_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "token"
    write_bytes_atomic(target, b"first", replace=False)
    with pytest.raises(FileExistsError):
        write_bytes_atomic(target, b"second", replace=False)
    assert target.read_bytes() == b"first" and _names(tmp_path) == ["token"]


@posix_only
def test_publish_file_renames_a_finished_file_and_keeps_it_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_027: int
) -> None:
    part = tmp_path / ".out.part"
    part.write_bytes(b"rows")
    part.chmod(0o600)
    assert publish_file(part, tmp_path / "out.jsonl").read_bytes() == b"rows"
    assert _mode(tmp_path / "out.jsonl") == 0o640 and not part.exists()

    part.write_bytes(b"more")
    monkeypatch.setattr(_fs.os, "replace", lambda s, d: (_ for _ in ()).throw(OSError("no")))
    with pytest.raises(OSError):
        publish_file(part, tmp_path / "out.jsonl")
    # the writer's own file is left for it to decide (a download resumes from it)
    assert part.read_bytes() == b"more" and (tmp_path / "out.jsonl").read_bytes() == b"rows"


@posix_only
def test_batch_output_file_is_not_left_0600(tmp_path: Path, umask_027: int) -> None:
    from distil_sdk.batch._files import _OneFileWriter

    writer = _OneFileWriter(tmp_path / "predictions.jsonl", "json")
    writer.write_rows([{"label": "a"}])
    writer.commit()
    assert _mode(tmp_path / "predictions.jsonl") == 0o640
    assert _names(tmp_path) == ["predictions.jsonl"]


# ----------------------------------------------------------------------------------- folders


def _staged(parent: Path, content: str) -> Path:
    staged = parent / f".staged-{content}"
    staged.mkdir()
    (staged / "config.json").write_text(content)
    return staged


@pytest.mark.parametrize("existing", ["nothing", "folder", "file"])
def test_publish_folder_swaps_in_whatever_was_there(tmp_path: Path, existing: str) -> None:
    target = tmp_path / "model"
    if existing == "folder":
        target.mkdir()
        (target / "stale.bin").write_text("old")
    elif existing == "file":
        target.write_text("old")
    publish_folder(_staged(tmp_path, "new"), target)
    assert _names(target) == ["config.json"] and (target / "config.json").read_text() == "new"
    assert _names(tmp_path) == ["model"]  # no staging folder, no aside left


def test_publish_folder_replaces_a_symlink_and_never_follows_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    work = tmp_path / "work"
    work.mkdir()
    (work / "model").symlink_to(elsewhere, target_is_directory=True)
    publish_folder(_staged(work, "new"), work / "model")
    assert not (work / "model").is_symlink()
    assert (work / "model" / "config.json").read_text() == "new"
    assert _names(elsewhere) == ["precious.txt"]


def test_publish_folder_puts_the_old_one_back_when_the_swap_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("old")
    staged = _staged(tmp_path, "new")
    real = os.replace

    def fail_the_swap(src: Any, dst: Any) -> None:
        if Path(src) == staged:
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(_fs.os, "replace", fail_the_swap)
    with pytest.raises(OSError, match="Input/output"):
        publish_folder(staged, target)
    assert (target / "config.json").read_text() == "old"
    assert _names(tmp_path) == [staged.name, "model"]  # no aside left behind


def test_publish_folder_replace_false_refuses_an_existing_target(tmp_path: Path) -> None:
    target = tmp_path / "onnx-abc"
    target.mkdir()
    (target / "model.onnx").write_text("theirs")
    staged = _staged(tmp_path, "ours")
    with pytest.raises(FileExistsError):
        publish_folder(staged, target, replace=False)
    assert (target / "model.onnx").read_text() == "theirs" and staged.is_dir()


def test_staged_folder_publishes_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "entities" / "ds-1"
    with pytest.raises(KeyError), staged_folder(target) as tmp:
        (tmp / "train.csv").write_text("half")
        raise KeyError("boom")
    assert not target.exists() and _names(tmp_path / "entities") == []
    with staged_folder(target) as tmp:
        (tmp / "train.csv").write_text("all")
    assert _names(target) == ["train.csv"] and _names(tmp_path / "entities") == ["ds-1"]


def test_safe_extract_keeps_the_old_folder_when_the_final_swap_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import tarfile

    archive = tmp_path / "model.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("model/config.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    dest = tmp_path / "out" / "model"
    dest.mkdir(parents=True)
    (dest / "weights.bin").write_text("the old model")
    real = os.replace

    def fail_into_dest(src: Any, dst: Any) -> None:
        if Path(dst) == dest and not str(src).endswith(".old"):  # the swap, not the way back
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(_fs.os, "replace", fail_into_dest)
    with pytest.raises(ModelLoadError, match="could not move the extracted files"):
        safe_extract(archive, dest)
    assert (dest / "weights.bin").read_text() == "the old model"
    assert _names(dest.parent) == ["model"]


# ---------------------------------------------------------------------------------- the lock


def test_the_lock_excludes_another_thread_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / ".model.tar.lock"
    first = FolderLock(path, timeout=5, what="the folder")
    second = FolderLock(path, timeout=5, what="the folder")
    assert first.try_acquire()
    assert path.read_text() == str(os.getpid())
    assert not second.try_acquire()
    first.release()
    assert not path.exists()  # the folder is left as it was
    assert second.try_acquire()
    second.release()
    assert _names(tmp_path) == []


def test_a_waiter_holding_the_deleted_file_starts_again_on_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = FolderLock(path, timeout=5, what="x")
    assert holder.try_acquire()
    stale = os.open(path, os.O_RDWR)  # what a waiter opened before the holder let go
    holder.release()
    try:
        _fs._try_lock(stale)  # the waiter wins the lock on the deleted file...
        assert not _fs._same_file(stale, path)  # ...and sees it is no longer the lock
    finally:
        os.close(stale)


def test_a_lock_file_left_by_a_dead_process_is_taken(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    path.write_text("999999999")  # the kernel dropped its lock with the process
    lock = FolderLock(path, timeout=0, what="x")
    lock.acquire()
    lock.release()


def test_waiting_times_out_with_the_folder_and_the_holder(tmp_path: Path) -> None:
    path = tmp_path / ".model.tar.lock"
    holder = FolderLock(path, timeout=5, what=f"the download folder {tmp_path}")
    holder.acquire()
    try:
        waiter = FolderLock(path, timeout=0.1, what=f"the download folder {tmp_path}")
        with pytest.raises(DistilError) as info:
            waiter.acquire()
    finally:
        holder.release()
    message = str(info.value)
    assert str(tmp_path) in message and f"process {os.getpid()}" in message


def test_the_second_thread_waits_for_the_first(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    inside: list[str] = []
    overlap = threading.Event()
    first_in = threading.Event()

    def work(name: str) -> None:
        with FolderLock(path, timeout=10, what="x"):
            if inside:
                overlap.set()
            inside.append(name)
            first_in.set()
            threading.Event().wait(0.2)
            inside.remove(name)

    one = threading.Thread(target=work, args=("one",))
    one.start()
    first_in.wait(5)
    two = threading.Thread(target=work, args=("two",))
    two.start()
    one.join(10)
    two.join(10)
    assert not overlap.is_set()


# ------------------------------------------------------------------------------- free space


def test_free_space_is_checked_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free, margin = 2 << 30, _fs.FREE_SPACE_MARGIN
    usage = shutil.disk_usage(tmp_path)._replace(free=free)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage)
    ensure_free_space(tmp_path, free - margin, what="the model download")
    with pytest.raises(DistilError, match="not enough free space"):
        ensure_free_space(tmp_path, free - margin + 1, what="the model download")
    with pytest.raises(DistilError) as info:
        ensure_free_space(tmp_path, 3 << 30, what="the model download")
    message = str(info.value)
    assert str(tmp_path) in message and "the model download" in message
    assert "needs 3.0 GiB" in message and "2.0 GiB is free" in message

"""safe_extract(): limits, corrupt archives, links and '..' without Python's tar filter, orphans."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distil_sdk._archive import ArchiveLimits, clean_orphans, safe_extract
from distil_sdk._errors import DistilError, ModelLoadError, UnsafeArchiveError
from distil_sdk.inference._loading import resolve_source


def _member(tar: tarfile.TarFile, name: str, data: bytes = b"", **attrs: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


def _archive(path: Path, build: Any, mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        build(tar)
    return path


def _model_tar(path: Path, mode: str = "w") -> Path:
    def build(tar: tarfile.TarFile) -> None:
        _member(tar, "model/config.json", b'{"id2label": {"0": "a"}}')
        _member(tar, "model/model.safetensors", os.urandom(4096))

    return _archive(path, build, mode)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ---------------------------------------------------------------- limits


def test_defaults_are_generous_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ArchiveLimits() == ArchiveLimits(20 << 30, 100_000, 200.0)
    env = {
        "DISTIL_ARCHIVE_MAX_SIZE": "1.5G",
        "DISTIL_ARCHIVE_MAX_MEMBERS": "0",
        "DISTIL_ARCHIVE_MAX_RATIO": "50",
    }
    assert ArchiveLimits.from_env(env) == ArchiveLimits(int(1.5 * (1 << 30)), None, 50.0)
    with pytest.raises(DistilError, match="DISTIL_ARCHIVE_MAX_MEMBERS='lots'"):
        ArchiveLimits.from_env({"DISTIL_ARCHIVE_MAX_MEMBERS": "lots"})
    with pytest.raises(DistilError, match="DISTIL_ARCHIVE_MAX_MEMBERS"):
        ArchiveLimits.from_env({"DISTIL_ARCHIVE_MAX_MEMBERS": "10K"})  # counts take no unit


def test_member_count_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def build(n: int) -> Any:
        return lambda tar: [_member(tar, f"model/f{i}", b"x") for i in range(n)]

    ok = _archive(tmp_path / "ok.tar", build(10))
    many = _archive(tmp_path / "many.tar", build(11))
    monkeypatch.setenv("DISTIL_ARCHIVE_MAX_MEMBERS", "10")
    assert len(list((safe_extract(ok, tmp_path / "a") / "model").iterdir())) == 10
    with pytest.raises(
        UnsafeArchiveError, match=r"more than 10 members.*DISTIL_ARCHIVE_MAX_MEMBERS"
    ):
        safe_extract(many, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    safe_extract(many, tmp_path / "c", limits=ArchiveLimits(max_members=11))


def test_total_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _archive(tmp_path / "big.tar", lambda tar: _member(tar, "model/w", os.urandom(3000)))
    monkeypatch.setenv("DISTIL_ARCHIVE_MAX_SIZE", "2K")
    with pytest.raises(UnsafeArchiveError, match=r"more than 2.0 KiB.*DISTIL_ARCHIVE_MAX_SIZE"):
        safe_extract(archive, tmp_path / "out")
    monkeypatch.setenv("DISTIL_ARCHIVE_MAX_SIZE", "3K")
    assert (safe_extract(archive, tmp_path / "out") / "model" / "w").stat().st_size == 3000


def test_hard_links_count_towards_the_size(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        _member(tar, "model/w", os.urandom(1000))
        for i in range(5):
            _member(tar, f"model/copy{i}", type=tarfile.LNKTYPE, linkname="model/w")

    archive = _archive(tmp_path / "links.tar", build)
    with pytest.raises(UnsafeArchiveError, match="expands to more than"):
        safe_extract(archive, tmp_path / "out", limits=ArchiveLimits(max_total_size=5000))
    safe_extract(archive, tmp_path / "out", limits=ArchiveLimits(max_total_size=6000))


def test_compression_bomb_refused_by_ratio(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tar:
        info = tarfile.TarInfo("model/zeros")
        info.size = 40 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(UnsafeArchiveError, match=r"compression bomb.*DISTIL_ARCHIVE_MAX_RATIO"):
        safe_extract(bomb, tmp_path / "out")
    assert _tree(tmp_path) == {"bomb.tar.gz"}
    # a small archive of text compresses well too, but is far below the 16 MiB floor
    text = _archive(
        tmp_path / "text.tar.gz", lambda tar: _member(tar, "model/v.txt", b"a\n" * 100_000), "w:gz"
    )
    safe_extract(text, tmp_path / "text")


# ---------------------------------------------------------------- corrupt archives


def _truncated(tmp_path: Path, suffix: str, mode: str, keep: float) -> Path:
    whole = _model_tar(tmp_path / f"whole{suffix}", mode)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * keep)])
    return cut


@pytest.mark.parametrize(
    ("suffix", "mode", "keep"),
    [(".tar", "w", 0.5), (".tar", "w", 0.1), (".tar.gz", "w:gz", 0.5), (".tar.gz", "w:gz", 0.05)],
)
def test_truncated_archives_are_model_load_errors(
    tmp_path: Path, suffix: str, mode: str, keep: float
) -> None:
    cut = _truncated(tmp_path, suffix, mode, keep)
    before = _tree(tmp_path)
    with pytest.raises(
        ModelLoadError, match="corrupt or truncated - delete it and download"
    ) as info:
        safe_extract(cut, tmp_path / "out")
    assert str(cut) in str(info.value) and info.value.__cause__ is not None
    assert _tree(tmp_path) == before  # no temp folder, no half extraction
    with pytest.raises(ModelLoadError, match="corrupt or truncated"):
        resolve_source(cut, cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache").rglob("*config.json"))


@pytest.mark.parametrize(
    "content",
    [b"", b"not a tar at all" * 100, gzip.compress(b"x" * 100)[:12] + b"\xff" * 200],
)
def test_garbage_is_a_model_load_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.tar.gz"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=r"model.tar.gz: not a complete tar archive"):
        safe_extract(path, tmp_path / "out")
    assert _tree(tmp_path) == {"model.tar.gz"}


# ---------------------------------------------------------------- our checks, without Python's filter


@pytest.fixture
def legacy_tarfile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """tarfile as on Python 3.10.0-3.10.11: no filters, extractall trusts every member."""
    real = tarfile.TarFile.extractall

    def trusting(self: tarfile.TarFile, path: Any = ".", members: Any = None, **kw: Any) -> None:
        if "filter" in kw:
            raise TypeError("extractall() got an unexpected keyword argument 'filter'")
        extra = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        real(self, path, members, **extra)

    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    monkeypatch.setattr(tarfile.TarFile, "extractall", trusting)
    yield


def _evil_cases() -> dict[str, Any]:
    def dotdot(tar: tarfile.TarFile) -> None:
        _member(tar, "model/config.json", b"{}")
        _member(tar, "../escaped.txt", b"owned")

    def inner_dotdot(tar: tarfile.TarFile) -> None:
        _member(tar, "model/../../escaped.txt", b"owned")

    def absolute(tar: tarfile.TarFile, target: str = "") -> None:
        _member(tar, target, b"owned")

    def symlink_out(tar: tarfile.TarFile) -> None:
        _member(tar, "model/link", type=tarfile.SYMTYPE, linkname="../../outside")

    def symlink_abs(tar: tarfile.TarFile) -> None:
        _member(tar, "model/link", type=tarfile.SYMTYPE, linkname="/etc")

    def write_through_link(tar: tarfile.TarFile) -> None:
        _member(tar, "up", type=tarfile.SYMTYPE, linkname="..")
        _member(tar, "up/escaped.txt", b"owned")

    def link_chain(tar: tarfile.TarFile) -> None:
        # each link alone resolves inside the archive on paper; chained they climb out
        _member(tar, "x", type=tarfile.DIRTYPE, mode=0o755)
        _member(tar, "b", type=tarfile.SYMTYPE, linkname="x/..")
        _member(tar, "a", type=tarfile.SYMTYPE, linkname="b/..")
        _member(tar, "a/escaped.txt", b"owned")

    def hardlink_out(tar: tarfile.TarFile) -> None:
        _member(tar, "model/h", type=tarfile.LNKTYPE, linkname="../outside/secret")

    def model_symlink(tar: tarfile.TarFile) -> None:
        _member(tar, "real/config.json", b"{}")
        _member(tar, "model", type=tarfile.SYMTYPE, linkname="real")

    def device(tar: tarfile.TarFile) -> None:
        _member(tar, "model/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)

    return {
        "dotdot": dotdot,
        "inner_dotdot": inner_dotdot,
        "symlink_out": symlink_out,
        "symlink_abs": symlink_abs,
        "write_through_link": write_through_link,
        "link_chain": link_chain,
        "hardlink_out": hardlink_out,
        "model_symlink": model_symlink,
        "device": device,
    }


@pytest.mark.parametrize("case", sorted(_evil_cases()))
def test_hostile_members_refused_without_python_filter(
    tmp_path: Path, legacy_tarfile: None, case: str
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("s")
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    archive = _archive(tmp_path / "evil.tar", _evil_cases()[case])
    before = _tree(tmp_path)
    with pytest.raises(UnsafeArchiveError, match="refusing to extract"):
        safe_extract(archive, work / "dest")
    assert _tree(tmp_path) == before  # nothing escaped, nothing left behind


def test_absolute_member_refused_without_python_filter(
    tmp_path: Path, legacy_tarfile: None
) -> None:
    target = tmp_path / "abs-escaped.txt"
    archive = _archive(tmp_path / "abs.tar", lambda tar: _member(tar, str(target), b"owned"))
    with pytest.raises(UnsafeArchiveError, match="absolute path"):
        safe_extract(archive, tmp_path / "w" / "dest")
    assert not target.exists()


def test_links_inside_the_archive_are_fine(tmp_path: Path, legacy_tarfile: None) -> None:
    def build(tar: tarfile.TarFile) -> None:
        _member(tar, "model/config.json", b'{"a": 1}')
        _member(tar, "model/alias.json", type=tarfile.SYMTYPE, linkname="config.json")
        _member(tar, "model/hard.json", type=tarfile.LNKTYPE, linkname="model/config.json")
        _member(tar, "model/sub/up.json", type=tarfile.SYMTYPE, linkname="../config.json")

    out = safe_extract(_archive(tmp_path / "ok.tar", build), tmp_path / "out") / "model"
    for name in ("alias.json", "hard.json", "sub/up.json"):
        assert (out / name).read_text() == '{"a": 1}'


def test_model_symlink_never_returned_by_resolve_source(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        _member(tar, "real/config.json", b"{}")
        _member(tar, "model", type=tarfile.SYMTYPE, linkname="real")

    archive = _archive(tmp_path / "m.tar", build)
    with pytest.raises(UnsafeArchiveError, match="top-level 'model' is a symbolic link"):
        resolve_source(archive, cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------- orphans of killed extractions


def test_orphans_of_killed_extractions_are_removed(tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "abc"
    dest.parent.mkdir()
    dead = dest.parent / ".abc.999999999.k1ll3d"  # above any pid_max: that process is gone
    alive = dest.parent / f".abc.{os.getpid()}.busy"  # an extraction under way (this process)
    legacy_old = dest.parent / ".abc.x7f3q"  # older versions put no pid in the name
    legacy_new = dest.parent / ".abc.y8g4r"
    other = dest.parent / ".abd.999999999.z"  # another archive's: not ours to judge
    for folder in (dead, alive, legacy_old, legacy_new, other):
        (folder / "model").mkdir(parents=True)
    old = time.time() - 2 * 3600
    os.utime(legacy_old, (old, old))
    safe_extract(_model_tar(tmp_path / "m.tar"), dest)
    assert not dead.exists() and not legacy_old.exists()
    assert alive.exists() and legacy_new.exists() and other.exists()
    assert (dest / "model" / "config.json").is_file()
    assert clean_orphans(dest) == []


def test_killed_extraction_is_cleaned_on_the_next_one(tmp_path: Path) -> None:
    import subprocess
    import sys

    archive = _model_tar(tmp_path / "m.tar")
    dest = tmp_path / "cache" / "abc"
    # A real process dies (SIGKILL-like: os._exit, no cleanup) in the middle of an extraction.
    code = (
        "import os, sys, tarfile\n"
        "from distil_sdk import _archive\n"
        "def die(*a, **k): os._exit(9)\n"
        "_archive._extract = die\n"
        f"_archive.safe_extract({str(archive)!r}, {str(dest)!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False)
    assert done.returncode == 9
    leftovers = [p for p in dest.parent.iterdir() if p.name.startswith(".abc.")]
    assert len(leftovers) == 1
    safe_extract(archive, dest)
    assert [p.name for p in dest.parent.iterdir()] == ["abc"]


def _through_inner_link(tar: tarfile.TarFile) -> None:
    # The link itself stays inside; a member written through it is refused all the same: where
    # a link leads is only known on disk, which is how link chains escape.
    _member(tar, "model/config.json", b"{}")
    _member(tar, "alias", type=tarfile.SYMTYPE, linkname="model")
    _member(tar, "alias/evil.json", b"owned")


def _through_outer_link(tar: tarfile.TarFile) -> None:
    # The member comes first, so its own check is the one that sees the link it goes through.
    _member(tar, "link/evil", b"owned")
    _member(tar, "link", type=tarfile.SYMTYPE, linkname="/tmp")


@pytest.mark.parametrize(
    ("build", "member", "link"),
    [(_through_inner_link, "alias/evil.json", "alias"), (_through_outer_link, "link/evil", "link")],
)
@pytest.mark.parametrize("python_filter", [True, False])
def test_a_member_inside_a_link_is_refused(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    build: Any,
    member: str,
    link: str,
    python_filter: bool,
) -> None:
    if not python_filter:
        request.getfixturevalue("legacy_tarfile")
    archive = _archive(tmp_path / "through.tar", build)
    with pytest.raises(UnsafeArchiveError, match=f"'{member}' lies inside the link '{link}'"):
        safe_extract(archive, tmp_path / "out" / "dest")
    assert _tree(tmp_path / "out") == set()

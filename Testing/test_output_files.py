"""output_files: an output that is an input is refused (also through a symlink), writes are atomic and get
the permissions a new file normally gets (0666 minus the umask), a failed write leaves nothing behind."""

import os
import stat

import pytest
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.output_files import atomic_output, check_writable, same_file, suffix_of, write_text


def test_suffix_counts_nii_gz_as_one():
    assert suffix_of("a/B.NII.GZ") == ".nii.gz" and suffix_of("x.nrrd") == ".nrrd" and suffix_of("noext") == ""


def test_an_input_reached_through_a_symlink_or_dotdot_is_refused(tmp_path):
    ct = tmp_path / "ct.nrrd"
    ct.write_bytes(b"patient")
    link = tmp_path / "link.nrrd"
    link.symlink_to(ct)
    assert same_file(link, ct) and same_file(tmp_path / "sub" / ".." / "ct.nrrd", ct)
    for out in (ct, link, tmp_path / "sub" / ".." / "ct.nrrd"):
        with pytest.raises(SaliencyError, match="inputs are never overwritten"):
            check_writable(out, [ct])
    assert ct.read_bytes() == b"patient"
    with pytest.raises(SaliencyError, match="does not exist"):
        check_writable(tmp_path / "missing" / "x.txt")
    with pytest.raises(SaliencyError, match="is a folder"):
        check_writable(tmp_path)


def test_atomic_write_has_umask_permissions_and_a_failure_leaves_nothing(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_text(tmp_path / "report.json", "{}\n")
    finally:
        os.umask(old)
    assert path.read_text() == "{}\n" and stat.S_IMODE(path.stat().st_mode) == 0o640
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "half.png") as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("the writer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no half file, no temporary file

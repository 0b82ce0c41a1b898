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


def test_an_input_is_every_file_it_consists_of_and_an_output_every_file_it_writes(tmp_path):
    import SimpleITK as sitk
    from SaliencyExplorerLib.output_files import find_clash, input_files, written_files

    image = sitk.Image([4, 5, 6], sitk.sitkFloat32)
    sitk.WriteImage(image, str(tmp_path / "scan.nhdr"), True)
    sitk.WriteImage(image, str(tmp_path / "meta.mhd"), True)
    assert input_files(tmp_path / "scan.nhdr") == [tmp_path / "scan.nhdr", tmp_path / "scan.raw.gz"]
    assert input_files(tmp_path / "meta.mhd") == [tmp_path / "meta.mhd", tmp_path / "meta.zraw"]
    assert written_files(tmp_path / "CT.nhdr") == [tmp_path / "CT.nhdr", tmp_path / "CT.raw.gz", tmp_path / "CT.raw"]
    sitk.WriteImage(image, str(tmp_path / "out.nhdr"), True)  # what SimpleITK really writes is among them
    assert (tmp_path / "out.raw.gz").is_file()
    assert find_clash(tmp_path / "other.nhdr", [tmp_path / "scan.nhdr", tmp_path / "meta.mhd"]) is None
    # another header over the input's data file: scan.mhd would write scan.raw, not scan.raw.gz; scan.nhdr would
    (tmp_path / "scan.nhdr").rename(tmp_path / "input.nhdr")
    (tmp_path / "input.nhdr").write_text((tmp_path / "input.nhdr").read_text())
    with pytest.raises(
        SaliencyError,
        match=r"scan.nhdr would also write .*scan.raw.gz; it is .*the data file of "
        r"the input .*input.nhdr",
    ):
        check_writable(tmp_path / "scan.nhdr", [tmp_path / "input.nhdr"], "--output")
    assert find_clash(tmp_path / "scan.mhd", [tmp_path / "input.nhdr"]) is None


def test_protected_inputs_are_refused_by_every_write_below(tmp_path):
    from SaliencyExplorerLib.output_files import atomic_output, protecting

    (tmp_path / "dicom").mkdir()
    (tmp_path / "dicom" / "1.dcm").write_bytes(b"slice")
    with protecting([tmp_path / "dicom"]):
        with pytest.raises(SaliencyError, match="inside the input folder"):
            write_text(tmp_path / "dicom" / "report.json", "{}")
        with pytest.raises(SaliencyError, match="inside the input folder"):
            with atomic_output(tmp_path / "dicom" / "f.png"):
                pass
    write_text(tmp_path / "dicom2.json", "{}")  # outside the block: nothing protected
    assert sorted(p.name for p in (tmp_path / "dicom").iterdir()) == ["1.dcm"]

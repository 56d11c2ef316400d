"""Decoding and preprocessing: every mode, DICOM windowing, and a reason for every refusal."""
import io

import numpy as np
import pytest
from PIL import Image

from lungct.errors import ImageRejected
from lungct.imaging import PreprocessParams, decode, preprocess
from lungct.imaging.dicom import window
from tests.helpers import jpeg_bytes, png_bytes, png_header_only, synthetic_slice

SLICE = synthetic_slice(1, 96)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "LA"])
def test_png_in_any_mode_decodes_to_the_same_grey_slice(mode):
    decoded = decode(png_bytes(SLICE, mode))
    assert decoded.pixels.shape == (96, 96)
    # palette quantisation may shift a grey level or two; everything else is exact
    assert np.abs(decoded.pixels - SLICE.astype(np.float32)).max() <= (8 if mode == "P" else 0)


def test_16_bit_greyscale_is_rescaled_by_its_range():
    wide = (SLICE.astype(np.uint16) * 200 + 1000).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, format="PNG")  # mode I;16
    decoded = decode(buf.getvalue())
    assert decoded.mode.startswith("I")
    assert decoded.pixels.min() == 0.0 and decoded.pixels.max() == pytest.approx(255.0)


def test_jpeg_decodes():
    decoded = decode(jpeg_bytes(SLICE))
    assert decoded.format == "JPEG" and np.abs(decoded.pixels - SLICE).mean() < 3


def test_preprocess_gives_the_model_input():
    tensor = preprocess(png_bytes(SLICE), PreprocessParams(size=48))
    assert tensor.shape == (48, 48, 3) and tensor.dtype == np.float32
    assert np.array_equal(tensor[..., 0], tensor[..., 2])
    assert 0.0 <= tensor.min() and tensor.max() <= 255.0


def test_pydicom_ct_small_decodes_with_lung_window():
    from pydicom.data import get_testdata_file

    data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    decoded = decode(data)
    assert decoded.format == "DICOM" and decoded.pixels.shape == (128, 128)
    assert 0.0 <= decoded.pixels.min() and decoded.pixels.max() <= 255.0
    assert decoded.dicom["Modality"] == "CT" and decoded.dicom["StudyInstanceUID"]
    assert "PatientName" not in decoded.dicom


def test_monochrome1_is_inverted():
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    buf = io.BytesIO()
    ds.save_as(buf)
    normal = decode(open(path, "rb").read()).pixels
    inverted = decode(buf.getvalue()).pixels
    assert np.allclose(inverted, 255.0 - normal)


def test_lung_window_maps_hounsfield_units():
    hu = np.array([-2000.0, -1350.0, -600.0, 150.0, 3000.0])
    assert np.allclose(window(hu, -600, 1500), [0.0, 0.0, 127.5, 255.0, 255.0])


@pytest.mark.parametrize(
    "data,code",
    [
        (b"", "empty"),
        (b"this is a text report, not an image\n" * 4, "not_an_image"),
        (png_bytes(SLICE)[:300], "truncated"),
        (png_header_only(30000, 30000), "too_many_pixels"),
        (png_bytes(np.zeros((8, 8), np.uint8)), "too_small"),
    ],
    ids=["empty", "text", "truncated", "bomb", "tiny"],
)
def test_bad_input_is_rejected_with_a_reason(data, code):
    with pytest.raises(ImageRejected) as info:
        decode(data)
    assert info.value.code == code
    assert len(info.value.message) > 15

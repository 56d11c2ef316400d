"""The runtime feeds and reads float32 whatever the artifact's tensors are (float or int8 I/O)."""
import numpy as np

from lungct.model.runtime import _dequantize, _quantize


def test_float_tensors_pass_through_without_copy():
    x = np.zeros((1, 4, 4, 3), np.float32)
    assert _quantize(x, {"dtype": np.float32, "quantization": (0.0, 0)}) is x
    assert _dequantize(x, {"dtype": np.float32, "quantization": (0.0, 0)}) is x


def test_int8_input_is_quantized_with_the_tensor_scale_and_clipped():
    detail = {"dtype": np.int8, "quantization": (1.0, -128)}
    q = _quantize(np.array([0.0, 127.6, 255.0, 400.0], np.float32), detail)
    assert q.dtype == np.int8 and q.tolist() == [-128, 0, 127, 127]


def test_int8_output_is_dequantized_to_float32():
    detail = {"dtype": np.int8, "quantization": (1 / 256, -128)}
    p = _dequantize(np.array([-128, 127], np.int8), detail)
    assert p.dtype == np.float32 and np.allclose(p, [0.0, 255 / 256])

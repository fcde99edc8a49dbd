"""dlib's face-embedding ResNet, read from its own model file and run with NumPy (BLAS).

Why: the ``dlib-bin`` wheel is built without BLAS, so its forward pass takes
~58 ms per face; the same arithmetic through NumPy's BLAS takes a fraction of
that, and batches (several faces, or a face and its mirror image) cost little
more than one.  The weights are dlib's, unchanged: ``tests/test_resnet.py``
checks that the output equals dlib's own to ~1e-5.

The network (dlib's ``dnn_face_recognition_ex.cpp``)::

    input 150x150 RGB, (pixel - mean) / 256
    conv 7x7/2 32 -> affine -> relu -> max_pool 3x3/2
    3 x res(32) | res_down(64) + 3 x res(64) | res_down(128) + 2 x res(128)
    | res_down(256) + 2 x res(256) | res_down(256)
    avg_pool_everything -> fc 256->128 (no bias)

    res(x)      = relu(x + B(x))
    res_down(x) = relu(avg_pool_2x2/2(x) + B_stride2(x))   # sizes/channels differ: zero-padded add
    B           = conv3x3 -> affine -> relu -> conv3x3 -> affine

The file is dlib's serialization: records (``con_4``, ``affine_``, ``relu_``,
``max_pool_2``, ``avg_pool_2``, ``add_prev_``, ``fc_2``) follow each other from
the input outwards; we read each record's parameters and check that the
sequence is exactly the network above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CHIP_SIZE = 150
CHIP_PADDING = 0.25


class ModelFormatError(ValueError):
    pass


class _Reader:
    """dlib's serialization primitives: variable-length integers, strings, floats, tensors."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data, self.pos = data, offset

    def int(self) -> int:
        control = self.data[self.pos]
        size, negative = control & 0x0F, bool(control & 0x80)
        if size == 0 or size > 8:
            raise ModelFormatError(f"bad integer at {self.pos}")
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if negative else value

    def string(self) -> str:
        n = self.int()
        text = self.data[self.pos : self.pos + n].decode("ascii")
        self.pos += n
        return text

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        return float(np.ldexp(float(mantissa), exponent))

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise ModelFormatError(f"bad tensor version at {self.pos}")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, ...]:
        if self.int() != 1:
            raise ModelFormatError(f"bad alias tensor at {self.pos}")
        return tuple(self.int() for _ in range(4))


@dataclass
class _Conv:
    weights: np.ndarray  # (kh * kw * c_in, c_out), patches in (kh, kw, c_in) order
    bias: np.ndarray
    size: int
    stride: int
    padding: int


@dataclass
class _Affine:
    gamma: np.ndarray
    beta: np.ndarray


@dataclass
class _Pool:
    kind: str  # "max" or "avg"
    size: int  # 0: the whole map
    stride: int
    padding: int


_RECORDS = re.compile(
    rb"(?<=\x01)(?:\x05con_4|\x07affine_|\x05relu_|\x0amax_pool_2|\x0aavg_pool_2|\x09add_prev_|\x04fc_2)"
)


def _records(data: bytes) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for match in _RECORDS.finditer(data):
        r = _Reader(data, match.start() - 1)
        name = r.string()
        if name == "con_4":
            params = r.tensor().ravel()
            filters, rows, cols = r.int(), r.int(), r.int()
            stride_y, stride_x, pad_y, pad_x = r.int(), r.int(), r.int(), r.int()
            w_shape, b_shape = r.alias(), r.alias()
            w_size = int(np.prod(w_shape))
            w = params[:w_size].reshape(w_shape)  # (c_out, c_in, kh, kw)
            b = params[w_size : w_size + int(np.prod(b_shape))]
            if rows != cols or stride_y != stride_x or pad_y != pad_x or w_shape[0] != filters:
                raise ModelFormatError("unexpected convolution shape")
            weights = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, filters))
            out.append(("conv", _Conv(weights, b.astype(np.float32), rows, stride_y, pad_y)))
        elif name == "affine_":
            params = r.tensor().ravel()
            g_shape, b_shape = r.alias(), r.alias()
            n = int(np.prod(g_shape))
            out.append(("affine", _Affine(params[:n].copy(), params[n : n + int(np.prod(b_shape))].copy())))
        elif name in ("max_pool_2", "avg_pool_2"):
            rows, cols, stride_y, stride_x, pad_y, pad_x = (r.int() for _ in range(6))
            out.append(("pool", _Pool(name[:3], rows, stride_y, pad_y)))
        elif name == "relu_":
            out.append(("relu", None))
        elif name == "add_prev_":
            out.append(("add", None))
        elif name == "fc_2":
            n_out, n_in = r.int(), r.int()
            params = r.tensor().ravel()
            w_shape = r.alias()
            out.append(("fc", params[: int(np.prod(w_shape))].reshape(n_in, n_out).copy()))
    return out


def _input_means(data: bytes) -> np.ndarray:
    at = data.find(b"\x15input_rgb_image_sized")
    if at < 1:
        raise ModelFormatError("no input layer")
    r = _Reader(data, at - 1)
    r.string()
    return np.array([r.float(), r.float(), r.float()], dtype=np.float32)


# The expected sequence of records, from the input outwards.
_BLOCK = ["conv", "affine", "relu", "conv", "affine"]
_RES = [*_BLOCK, "add", "relu"]
_RES_DOWN = [*_BLOCK, "pool", "add", "relu"]
_LAYOUT = (
    ["conv", "affine", "relu", "pool"]
    + _RES * 3
    + (_RES_DOWN + _RES * 3)
    + (_RES_DOWN + _RES * 2)
    + (_RES_DOWN + _RES * 2)
    + _RES_DOWN
    + ["pool", "fc"]
)


class DlibResNet:
    """dlib's face-descriptor ResNet in NumPy; ``embed(chips)`` maps aligned 150x150 RGB face chips to 128-d vectors."""

    def __init__(self, path: str | Path) -> None:
        data = Path(path).read_bytes()
        records = _records(data)
        if [kind for kind, _ in records] != _LAYOUT:
            raise ModelFormatError(f"{Path(path).name} is not dlib's face recognition ResNet v1")
        self.means = _input_means(data)
        self._layers = records

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """``chips``: uint8 (N, 150, 150, 3) RGB -> float32 (N, 128)."""
        x = (np.asarray(chips, dtype=np.float32) - self.means) / 256.0
        layers = iter(self._layers)
        x = self._stem(x, layers)
        blocks = [3] + [4, 3, 3, 1]  # residual units per level; each level after the first starts with res_down
        first = True
        for count in blocks:
            for i in range(count):
                x = self._residual(x, layers, down=not first and i == 0)
            first = False
        next(layers)  # avg_pool_everything
        x = x.mean(axis=(1, 2))
        _, weights = next(layers)
        return (x @ weights).astype(np.float32)

    def _stem(self, x: np.ndarray, layers) -> np.ndarray:  # type: ignore[no-untyped-def]
        x = _conv(x, next(layers)[1])
        x = _affine(x, next(layers)[1])
        x = np.maximum(x, 0.0)
        next(layers)  # relu
        next(layers)  # max_pool 3x3/2
        return _max_pool(x, 3, 2)

    def _residual(self, x: np.ndarray, layers, down: bool) -> np.ndarray:  # type: ignore[no-untyped-def]
        y = _conv(x, next(layers)[1])
        y = _affine(y, next(layers)[1])
        y = np.maximum(y, 0.0)
        next(layers)
        y = _conv(y, next(layers)[1])
        y = _affine(y, next(layers)[1])
        if down:
            next(layers)
            x = _avg_pool(x, 2, 2)
        next(layers)  # add
        next(layers)  # relu
        return np.maximum(_padded_add(x, y), 0.0)


def _conv(x: np.ndarray, conv: _Conv) -> np.ndarray:
    if conv.padding:
        p = conv.padding
        x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    k, s = conv.size, conv.stride
    windows = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]  # (N, Ho, Wo, C, k, k)
    n, ho, wo = windows.shape[:3]
    patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, -1)
    out = patches @ conv.weights
    out += conv.bias
    return out.reshape(n, ho, wo, -1)


def _affine(x: np.ndarray, a: _Affine) -> np.ndarray:
    x *= a.gamma
    x += a.beta
    return x


def _max_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s].max(axis=(4, 5))


def _avg_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s].mean(axis=(4, 5))


def _padded_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dlib's add_prev: the result has the larger size of each axis; where one input is missing it counts as 0."""
    if a.shape == b.shape:
        return a + b
    shape = tuple(max(i, j) for i, j in zip(a.shape, b.shape))
    out = np.zeros(shape, dtype=np.float32)
    out[: a.shape[0], : a.shape[1], : a.shape[2], : a.shape[3]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return out

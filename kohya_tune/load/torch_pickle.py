"""Read the plain values of a `torch.save` file without torch and without running its code.

A torch file (torch >= 1.6, the only format the trainers' torch versions write) is a zip archive:
`<prefix>/data.pkl` (a pickle of the saved object), `<prefix>/data/<key>` (the raw bytes of each
tensor storage), `<prefix>/byteorder`, `<prefix>/version`. accelerate saves the scheduler's and the
optimizer's `state_dict()` and its random states this way (`scheduler.bin`, `optimizer.bin`,
`random_states_<rank>.pkl`).

A pickle is a program: each GLOBAL names a Python callable that the unpickler calls. Here every
name goes through `RestrictedUnpickler.find_class`, which answers with kohya-tune's own inert
stand-ins for the few names such files use (a tensor becomes `Tensor`, a numpy array `NdArray`,
an OrderedDict stays an OrderedDict, `_codecs.encode` only turns text into latin-1 bytes); any
other name (`os.system`, `builtins.eval`, a class of some package) refuses the whole file with
`PickleRefused`, before anything of it runs. Storages are never loaded as a whole: a tensor's
bytes are read only when its value is asked for, and only for small tensors (a step counter).
"""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_PICKLE_BYTES = 64 * 1024 * 1024     # data.pkl of an optimizer of a large network: a few MB
MAX_ENTRIES = 200_000
MAX_VALUE_ELEMENTS = 64                  # tensors whose values are read (step counters: 1)


class PickleRefused(Exception):
    """The pickle asks for something that is not plain data (it would run code)."""


class NotTorchFile(Exception):
    """Not a torch zip archive, or a broken one."""


@dataclass(frozen=True)
class StorageType:
    name: str                            # "FloatStorage", ...


# storage type -> (struct format of one element, bytes per element)
_ELEMENT = {
    "FloatStorage": ("f", 4), "DoubleStorage": ("d", 8), "HalfStorage": ("e", 2),
    "BFloat16Storage": ("bf16", 2), "LongStorage": ("q", 8), "IntStorage": ("i", 4),
    "ShortStorage": ("h", 2), "CharStorage": ("b", 1), "ByteStorage": ("B", 1), "BoolStorage": ("?", 1),
}


@dataclass
class Storage:
    type: StorageType
    key: str
    location: str
    numel: int
    archive: "TorchArchive | None" = field(default=None, repr=False, compare=False)


@dataclass
class Tensor:
    storage: Storage
    offset: int
    size: tuple
    stride: tuple

    @property
    def numel(self) -> int:
        n = 1
        for s in self.size:
            n *= s
        return n

    def values(self) -> list:
        """The elements (row-major) of a small, contiguous tensor; ValueError otherwise."""
        if self.archive is None:
            raise ValueError("the storage is not in this file")
        if self.numel > MAX_VALUE_ELEMENTS:
            raise ValueError(f"a tensor of {self.numel} elements is not read")
        fmt, width = _ELEMENT.get(self.storage.type.name, (None, 0))
        if fmt is None:
            raise ValueError(f"{self.storage.type.name} values are not read")
        raw = self.archive.storage_bytes(self.storage.key, (self.offset + self.numel) * width)
        raw = raw[self.offset * width:(self.offset + self.numel) * width]
        if len(raw) < self.numel * width:
            raise ValueError("the storage is shorter than the tensor")
        order = "<" if self.archive.byteorder == "little" else ">"
        if fmt == "bf16":
            out = []
            for i in range(self.numel):
                (half,) = struct.unpack(order + "H", raw[2 * i:2 * i + 2])
                out.append(struct.unpack("<f", struct.pack("<I", half << 16))[0])
            return out
        return list(struct.unpack(order + fmt * self.numel, raw))

    @property
    def archive(self):
        return self.storage.archive

    def item(self):
        vals = self.values()
        if len(vals) != 1:
            raise ValueError(f"a tensor of {len(vals)} elements is not a single number")
        return vals[0]


@dataclass
class NdArray:
    """A numpy array as pickled (numpy.core.multiarray._reconstruct + __setstate__): kept inert."""
    args: tuple = ()
    state: object = None

    def __setstate__(self, state):
        self.state = state


@dataclass
class DType:
    args: tuple = ()
    state: object = None

    def __setstate__(self, state):
        self.state = state


@dataclass
class Opaque:
    """An object of an allowed class that carries no value kohya-tune reads (numpy's DType
    classes, torch.Size)."""
    name: str
    args: tuple = ()
    state: object = None

    def __setstate__(self, state):
        self.state = state


def _rebuild_tensor(storage, storage_offset, size, stride, *rest):
    # torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
    # backward_hooks[, metadata]) and _rebuild_tensor(storage, storage_offset, size, stride)
    if not isinstance(storage, Storage):
        raise PickleRefused("a tensor without a storage of this file")
    return Tensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *rest):
    return data


def _latin1(text, encoding="latin1", *rest):
    # numpy arrays pickled with protocol 2 carry their bytes as _codecs.encode(text, "latin1")
    if not isinstance(text, str) or str(encoding).lower() not in ("latin1", "latin-1"):
        raise PickleRefused("_codecs.encode is allowed only to turn text into latin-1 bytes")
    return text.encode("latin1")


def _reconstruct(*args):
    return NdArray(args)


def _dtype(*args):
    return DType(args)


def _opaque(name):
    def make(*args):
        return Opaque(name, args)
    return make


def _ordered_dict(*args):
    if args and not isinstance(args[0], (list, tuple, dict)):
        raise PickleRefused("OrderedDict built from something that is not a list of pairs")
    return OrderedDict(*args)


def _allowed() -> dict:
    table = {
        ("collections", "OrderedDict"): _ordered_dict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch", "Size"): tuple,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): _opaque("numpy.ndarray"),
        ("numpy", "dtype"): _dtype,
        ("_codecs", "encode"): _latin1,
        ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "tuple"): tuple,
        ("builtins", "list"): list, ("builtins", "dict"): dict, ("builtins", "int"): int,
        ("builtins", "float"): float, ("builtins", "bool"): bool, ("builtins", "complex"): complex,
        ("builtins", "bytearray"): bytearray, ("builtins", "slice"): slice,
    }
    for name in _ELEMENT:
        table[("torch", name)] = StorageType(name)
    for name in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"):
        table[("torch", name)] = f"torch.{name}"
    for name in ("UInt32DType", "Float64DType", "Float32DType", "Int64DType", "BoolDType", "UInt8DType"):
        table[("numpy.dtypes", name)] = _opaque(f"numpy.dtypes.{name}")
    return table


ALLOWED = _allowed()


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose globals are kohya-tune's stand-ins; anything else is refused."""

    def __init__(self, data: bytes, archive: "TorchArchive | None", what: str):
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.what = what

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise PickleRefused(f"{self.what} asks for {module}.{name}, which could run code: refused "
                                f"(a state written by accelerate holds plain values only)") from None

    def persistent_load(self, pid):
        # torch: ('storage', storage_type, key, location, numel)
        if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage" \
                or not isinstance(pid[1], StorageType):
            raise PickleRefused(f"{self.what} has a persistent reference that is not a torch storage")
        _, stype, key, location, numel = pid
        if self.archive is None:
            raise PickleRefused(f"{self.what} refers to a tensor storage outside a torch archive")
        return Storage(stype, str(key), str(location), int(numel), self.archive)


def loads(data: bytes, what: str = "the pickle", archive=None):
    try:
        return RestrictedUnpickler(data, archive, what).load()
    except PickleRefused:
        raise
    except RecursionError:
        raise NotTorchFile(f"{what}: nested too deeply") from None
    except Exception as exc:  # a truncated or malformed pickle: any of pickle's own errors
        raise NotTorchFile(f"{what} is not a readable pickle ({type(exc).__name__}: {exc})") from None


class TorchArchive:
    """A torch zip archive opened for reading its pickle and, on demand, small storages."""

    def __init__(self, path: str, label: str):
        self.path = path
        self.label = label
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile):
                raise NotTorchFile(f"{label}: cannot read ({exc.strerror or exc})") from None
            raise NotTorchFile(f"{label} is not a torch zip archive (torch.save of torch >= 1.6): "
                               f"{exc}") from None
        infos = self.zip.infolist()
        if len(infos) > MAX_ENTRIES:
            raise NotTorchFile(f"{label}: {len(infos)} entries, not a torch file")
        pkl = [i for i in infos if i.filename.endswith("/data.pkl") and i.filename.count("/") == 1]
        if len(pkl) != 1:
            raise NotTorchFile(f"{label} is a zip archive but not a torch file (no <name>/data.pkl)")
        self.prefix = pkl[0].filename[: -len("data.pkl")]
        self.infos = {i.filename: i for i in infos}
        self.byteorder = "little"
        order = self.infos.get(self.prefix + "byteorder")
        if order is not None:
            text = self._read(order, 16).decode("ascii", "replace").strip()
            if text in ("little", "big"):
                self.byteorder = text
        self._pickle_info = pkl[0]

    def _read(self, info: zipfile.ZipInfo, limit: int) -> bytes:
        if info.file_size > limit:
            raise NotTorchFile(f"{self.label}: {info.filename} is {info.file_size} bytes, more than the "
                               f"{limit} kohya-tune reads")
        try:
            with self.zip.open(info) as fh:
                data = fh.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise NotTorchFile(f"{self.label}: {info.filename} cannot be read ({exc})") from None
        if len(data) > limit:
            raise NotTorchFile(f"{self.label}: {info.filename} is longer than {limit} bytes")
        return data

    def load(self):
        return loads(self._read(self._pickle_info, MAX_PICKLE_BYTES), self.label, self)

    def storage_bytes(self, key: str, length: int) -> bytes:
        info = self.infos.get(f"{self.prefix}data/{key}")
        if info is None:
            raise ValueError(f"storage {key} is missing")
        return self._read(info, max(length, 0) + 4096)[:length]

    def close(self):
        self.zip.close()


def load_file(path: str, label: str):
    """The object saved in a torch file, with stand-ins for tensors (see the module docstring).
    Raises NotTorchFile (unreadable) or PickleRefused (would run code)."""
    archive = TorchArchive(path, label)
    try:
        obj = archive.load()
    except Exception:
        archive.close()
        raise
    return obj, archive

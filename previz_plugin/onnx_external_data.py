"""External-data locations named inside an ONNX file, found by reading its protobuf directly.

The fill path has no `onnx` package, and onnxruntime would follow any external-data path it finds. A
model file is data: before a session is made, every external-data location is listed here so the
runtime can refuse one that leaves the model's folder.
"""

from __future__ import annotations

from collections.abc import Iterator

# Field numbers from onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ...).
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_NODE_ATTRIBUTE = 5
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_TENSOR_EXTERNAL_DATA = 13
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_FUNCTION_NODE = 7
_ENTRY_KEY, _ENTRY_VALUE = 1, 2


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield (field number, wire type, value) where value is an int or a memoryview of the bytes."""
    pos = 0
    value: int | memoryview
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated length-delimited field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        yield number, wire, value


def _submessages(data: memoryview) -> Iterator[tuple[int, memoryview]]:
    """(field number, bytes) of each length-delimited field: the only kind that can hold a location."""
    for number, wire, value in _fields(data):
        if wire == 2 and isinstance(value, memoryview):
            yield number, value


def _tensor_locations(tensor: memoryview, found: list[str]) -> None:
    for number, value in _submessages(tensor):
        if number == _TENSOR_EXTERNAL_DATA:
            entry = {n: bytes(v).decode("utf-8", "replace") for n, v in _submessages(value)}
            if entry.get(_ENTRY_KEY) == "location":
                found.append(entry.get(_ENTRY_VALUE, ""))


def _sparse_locations(sparse: memoryview, found: list[str]) -> None:
    for number, value in _submessages(sparse):
        if number in (_SPARSE_VALUES, _SPARSE_INDICES):
            _tensor_locations(value, found)


def _node_locations(node: memoryview, found: list[str]) -> None:
    for number, value in _submessages(node):
        if number != _NODE_ATTRIBUTE:
            continue
        for a_number, a_value in _submessages(value):
            if a_number in (_ATTR_T, _ATTR_TENSORS):
                _tensor_locations(a_value, found)
            elif a_number in (_ATTR_G, _ATTR_GRAPHS):
                _graph_locations(a_value, found)
            elif a_number in (_ATTR_SPARSE, _ATTR_SPARSES):
                _sparse_locations(a_value, found)


def _graph_locations(graph: memoryview, found: list[str]) -> None:
    for number, value in _submessages(graph):
        if number == _GRAPH_INITIALIZER:
            _tensor_locations(value, found)
        elif number == _GRAPH_SPARSE_INITIALIZER:
            _sparse_locations(value, found)
        elif number == _GRAPH_NODE:
            _node_locations(value, found)


def external_data_locations(model_bytes: bytes) -> list[str]:
    """Return every external-data `location` string in a serialized ModelProto (empty for a self-contained file)."""
    found: list[str] = []
    for number, value in _submessages(memoryview(model_bytes)):
        if number == _MODEL_GRAPH:
            _graph_locations(value, found)
        elif number == _MODEL_FUNCTIONS:
            for f_number, f_value in _submessages(value):
                if f_number == _FUNCTION_NODE:
                    _node_locations(f_value, found)
    return found

"""A GGUF load parses the file's header once (transformers asks three times) and builds gguf's
tensor-name table once per architecture (transformers asks once per submodule)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distil_sdk.inference._loading import gguf_parsed_once

gguf = pytest.importorskip("gguf")


def _tiny_gguf(path: Path) -> Path:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_string("general.name", "tiny")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_one_parse_and_one_name_table_per_load_then_gguf_is_as_it_was(tmp_path: Path) -> None:
    path = _tiny_gguf(tmp_path / "tiny.gguf")
    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    arch = gguf.MODEL_ARCH.LLAMA
    with gguf_parsed_once():
        first = gguf.GGUFReader(path)
        assert gguf.GGUFReader(str(path)) is first  # the same path, as str or Path: one parse
        assert first.fields["general.name"].contents() == "tiny"
        assert gguf.get_tensor_name_map(arch, 2) is gguf.get_tensor_name_map(arch, 2)
        assert gguf.get_tensor_name_map(arch, 3) is not gguf.get_tensor_name_map(arch, 2)
        other = _tiny_gguf(tmp_path / "other.gguf")
        assert gguf.GGUFReader(other) is not first
    assert gguf.GGUFReader is reader_class and gguf.get_tensor_name_map is name_map
    assert gguf.GGUFReader(path) is not first
    assert name_map(arch, 2) is not name_map(arch, 2)


def test_the_module_is_restored_when_the_load_fails(tmp_path: Path) -> None:
    reader_class = gguf.GGUFReader
    with pytest.raises(RuntimeError, match="boom"), gguf_parsed_once():
        assert gguf.GGUFReader is not reader_class
        raise RuntimeError("boom")
    assert gguf.GGUFReader is reader_class

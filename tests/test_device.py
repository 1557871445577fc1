"""The device setting: where documents are embedded; recorded in the manifest, never a reason to rebuild."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from helpers import SEEDS_DIR

import qa
from qa.cli import main
from qa.errors import ConfigError
from qa.retrieve.embedding import resolve_device

DOCS = [qa.Document("bees", "Honey bees dance to tell the hive where flowers are. Drones do not sting.", title="Bees")]


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_device_setting_accepts_torch_device_names(device):
    assert qa.Settings.from_env({"QA_DEVICE": device}).device == device


@pytest.mark.parametrize("device", ["gpu", "cuda:", "CPU", "cuda:x", ""])
def test_unknown_device_raises_config_error_naming_it(device):
    with pytest.raises(ConfigError, match="device must be"):
        qa.Settings(device=device)


def test_device_is_not_an_index_setting():
    assert "device" not in qa.Settings().index_fingerprint()


def test_auto_is_the_cpu_when_torch_has_no_gpu_and_always_with_quantize():
    has_gpu = torch.cuda.is_available() or torch.backends.mps.is_available()
    assert (resolve_device("auto") == "cpu") is not has_gpu
    assert resolve_device("auto", quantize=True) == "cpu"


def test_quantize_on_a_gpu_is_refused_saying_it_is_cpu_only():
    with pytest.raises(ConfigError, match="CPU only"):
        resolve_device("cuda", quantize=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_device_torch_does_not_have_is_a_one_line_cli_error(tmp_path):
    result = CliRunner().invoke(main, ["index", "build", str(SEEDS_DIR), "--index", str(tmp_path / "ix"),
                                       "--device", "cuda"])
    assert result.exit_code == 1
    assert "device 'cuda' is not available" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ix" / "CURRENT").exists()


def test_manifest_records_the_build_device_and_another_device_loads_it(tmp_path):
    qa.build_index(DOCS, tmp_path, qa.Settings(device="cpu"))
    index = qa.load_index(tmp_path, qa.Settings(device="auto"))
    assert index.manifest["device"] == "cpu"
    assert index.search("Which insects dance?")[0].doc_id == "bees"

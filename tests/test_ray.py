"""Building on Ray: a local Ray (started and shut down by each test) gives the index a local build gives."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import LIGHTHOUSE, PENGUINS, REPO_ROOT, SEEDS_DIR, hit_keys, make_corpus, qa_command, subprocess_env

import qa
from qa.errors import ConfigError
from qa.eval.evaluation import load_squad
from qa.index.ray_embed import Cluster, plan
from qa.ingest.documents import load_folder

pytest.importorskip("ray.data", reason="the ray extra is not installed: pip install 'qa[ray]'")

SQUAD = [p for p in (REPO_ROOT.parent / "shared" / "eval" / "squad-v1.1" / "dev-v1.1.json",
                     Path(os.environ.get("SQUAD_JSON", "/nonexistent"))) if p.is_file()]
PARAGRAPHS, QUESTIONS = 300, 50


def ray_processes() -> list[str]:
    """Ray's own daemons (GCS server, raylet) running on this machine, by command line."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "gcs_server" in line or "/raylet" in line]


def test_ray_workers_below_one_are_refused_before_anything_starts(tmp_path):
    with pytest.raises(ConfigError, match="ray_workers must be at least 1, got 0"):
        qa.build_index(SEEDS_DIR, tmp_path, ray_address="local", ray_workers=0)
    assert list(tmp_path.iterdir()) == []


class Resources:
    """What ``plan`` reads of a Ray cluster: its total resources (pure arithmetic follows)."""

    def __init__(self, **resources: float) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return self.resources


@pytest.mark.parametrize("resources, settings, workers, expected", [
    ({"CPU": 8, "GPU": 2}, qa.Settings(), None, Cluster(2, 1, True)),  # one worker per GPU
    ({"CPU": 8}, qa.Settings(), None, Cluster(8, 1, False)),  # else one per CPU
    ({"CPU": 8}, qa.Settings(), 2, Cluster(2, 4, False)),  # fewer workers share the CPUs
    ({"CPU": 8, "GPU": 2}, qa.Settings(device="cpu"), None, Cluster(8, 1, False)),  # GPUs not wanted
    ({"CPU": 8, "GPU": 2}, qa.Settings(quantize=True), None, Cluster(8, 1, False)),  # int8 is CPU-only
])
def test_workers_are_placed_one_per_gpu_else_one_per_cpu(resources, settings, workers, expected):
    assert plan(Resources(**resources), settings, workers) == expected


@pytest.mark.slow
@pytest.mark.skipif(not SQUAD, reason="SQuAD v1.1 dev is not in ../shared/eval (or SQUAD_JSON)")
def test_build_on_local_ray_equals_the_local_build(tmp_path):
    paragraphs, questions = load_squad(SQUAD[0])
    docs = load_folder(SEEDS_DIR)[0] + paragraphs[:PARAGRAPHS]
    asked = [q.text for q in questions if q.relevant.keys() <= {d.id for d in docs}][:QUESTIONS]
    before = ray_processes()

    local = qa.build_index(docs, tmp_path / "local")
    on_ray = qa.build_index(docs, tmp_path / "ray", ray_address="local", ray_workers=2)

    assert on_ray.report.embedded == len(on_ray.chunks) > PARAGRAPHS
    assert [c.to_dict() for c in on_ray.chunks] == [c.to_dict() for c in local.chunks]
    np.testing.assert_allclose(on_ray.vectors, local.vectors, atol=1e-5)
    reloaded = qa.load_index(tmp_path / "ray")
    assert len(asked) == QUESTIONS
    assert [hit_keys(reloaded.search(q, k=10)) for q in asked] == [hit_keys(local.search(q, k=10)) for q in asked]
    assert ray_processes() == before  # the local Ray it started is gone


@pytest.mark.slow
def test_update_on_ray_embeds_only_the_new_document_and_matches_a_local_build(tmp_path):
    corpus = make_corpus(tmp_path / "docs")
    qa.build_index(corpus, tmp_path / "ix")
    (corpus / "more-penguins.txt").write_text(PENGUINS.replace("Emperor", "King"), encoding="utf-8")

    result = subprocess.run([qa_command(), "index", "update", str(corpus), "--index", str(tmp_path / "ix"),
                             "--ray", "--ray-workers", "1"],
                            env=subprocess_env(), capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "(1 chunks embedded," in result.stdout
    assert "Embedding" in result.stderr  # the progress bar, as in a local build
    updated, full = qa.load_index(tmp_path / "ix"), qa.build_index(corpus)
    np.testing.assert_allclose(updated.vectors, full.vectors, atol=1e-5)
    questions = ["How do king penguins keep the egg warm?", "What did the lighthouse keeper count?"]
    assert [hit_keys(updated.search(q)) for q in questions] == [hit_keys(full.search(q)) for q in questions]


def embedding_workers() -> list[int]:
    """Process ids of Ray Data's embedding actors (Ray names each worker process after its actor)."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "ray::MapWorker(MapBatches(EmbedBatches))" in line]


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_build_still_gives_the_local_index(tmp_path):
    corpus = make_corpus(tmp_path / "docs")
    for i in range(60):  # enough batches that the worker dies with work left
        (corpus / f"note-{i}.txt").write_text(f"Note {i}. " + LIGHTHOUSE.replace("keeper", f"keeper {i}") * 3,
                                              encoding="utf-8")
    build = subprocess.Popen([qa_command(), "index", "build", str(corpus), "--index", str(tmp_path / "ix"),
                              "--ray", "local", "--ray-workers", "1"], env=subprocess_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not embedding_workers() and build.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    killed = embedding_workers()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    out, err = build.communicate(timeout=600)

    assert killed and build.returncode == 0, err[-3000:]
    np.testing.assert_allclose(qa.load_index(tmp_path / "ix").vectors, qa.build_index(corpus).vectors, atol=1e-5)

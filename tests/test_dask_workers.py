"""Dask: the same files and the same images from a 2-worker local cluster as from one process."""

import h5py
import numpy as np
import pytest

from analysis_lib.dask_workers import connect, map_streams, ordered_map
from analysis_lib.studies.ldmx import hits_to_images
from analysis_lib.detectors import DETECTORS, LDMX_ECAL
from analysis_lib.simulation import simulate_to_files
from analysis_lib.errors import ParameterError


@pytest.fixture(scope="module")
def client():
    with connect("local", n_workers=2) as client:
        yield client


def test_streams_cover_the_events_in_order():
    assert list(map_streams(lambda n, stream: (stream, n), 2500, 1000)) == [(0, 1000), (1, 1000), (2, 500)]


def test_ordered_map_keeps_the_order(client):
    assert list(ordered_map(client, in_flight_per_worker=1)(pow, range(20), [2] * 20)) == [i * i for i in range(20)]


@pytest.mark.parametrize("detector,particle", [("atlas-ecal", "axion1"), ("photon-id", "jet")])
def test_simulation_on_the_cluster_writes_the_same_file(client, tmp_path, detector, particle):
    local = simulate_to_files(DETECTORS[detector], particle, 2300, [tmp_path / "here.h5"], seed=8, progress=False)[0]
    remote = simulate_to_files(DETECTORS[detector], particle, 2300, [tmp_path / "there.h5"], seed=8, progress=False,
                               mapper=ordered_map(client))[0]
    with h5py.File(local) as a, h5py.File(remote) as b:
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_array_equal(a[key][()], b[key][()])


def test_hits_to_images_on_the_cluster_gives_the_same_images(client, tmp_path):
    path = simulate_to_files(LDMX_ECAL, "background", 1200, [tmp_path / "b.root"], seed=2, progress=False)[0]
    formats = {"xyz": {"kind": "xyz", "size": 12}, "z_split": {"kind": "z_split", "size": 12, "depth": 6}}
    here, n_here = hits_to_images(path, formats, step_size=500)
    there, n_there = hits_to_images(path, formats, step_size=300, mapper=ordered_map(client))
    assert n_here == n_there == 1200
    for name in formats:
        assert 0 < len(here[name]) <= 1200
        np.testing.assert_array_equal(here[name], there[name])


def test_an_unreachable_scheduler_is_one_sentence():
    with pytest.raises(ParameterError, match="cannot reach the Dask scheduler"):
        with connect("tcp://127.0.0.1:9", timeout_s=2):
            pass


def test_pipeline_stages_run_on_dask_workers(tmp_path):
    from analysis_lib.pipeline import Pipeline, load_stages
    from tests.test_pipeline import make_project

    root = make_project(tmp_path)  # the tiny make -> use project of the pipeline tests
    pipeline = Pipeline(load_stages(root / "stages.yml"), profile="smoke", root=root, data_dir=root / "data",
                        book_dir=root / "book", jobs=2, log=lambda message: None, scheduler="local")
    assert {r.stage: r.status for r in pipeline.run()} == {"s/make": "ran", "s/use": "ran", "t/other": "ran"}
    assert (root / "data/sum.txt").read_text() == "6"

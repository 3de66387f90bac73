"""Files this library did not write, in the layouts experiments and the original studies
use, built here with plain h5py and uproot: they go through the studies' notebooks, and
nothing of the user's is ever replaced."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import papermill
import pytest
import uproot

from analysis_lib import metrics
from analysis_lib.detectors import ATLAS_ECAL, LDMX_ECAL
from analysis_lib.errors import DataFileError
from analysis_lib.io import HitLayout, find_hits, read_showers
from analysis_lib.pipeline import check_parameters, default_root, load_stages, select

from .conftest import FOREIGN_ROOT, simulate_sample

ROOT = default_root()
STAGES = load_stages(ROOT / "stages.yml")


def _checksums(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _smoke_parameters(stage_id, profile_data, **changes):
    """A stage and its smoke-profile parameters, with ``profile_data`` for {data}."""
    stage = next(s for s in STAGES if s.id == stage_id)
    return stage, dict(stage.resolved_parameters("smoke", str(profile_data)), **changes)


def _run_notebook(stage, parameters, tmp_path):
    return papermill.execute_notebook(str(stage.notebook), str(tmp_path / f"{stage.id.replace('/', '_')}.ipynb"),
                                      parameters=parameters, cwd=str(ROOT), progress_bar=False, kernel_name="python3")


def _run_side_by_side(runs, tmp_path):
    """Notebooks that do not read each other's outputs, two at a time (as ``--jobs 2``
    runs them); the executed notebooks in the order given."""
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda run: _run_notebook(*run, tmp_path), runs))


def _published_layout(folder, particle, sample):
    """One file of the published photon-jet dataset: float64 layers in MeV, ``energy``
    (N, 1) in GeV, ``overflow`` (N, 4), no attributes."""
    with h5py.File(folder / f"{particle}_40-250GeV_100k.h5", "w") as f:
        for i, layer in enumerate(sample.layers):
            f[f"layer_{i}"] = layer.astype(np.float64)
        f["energy"] = sample.truth["energy_gev"][:, None].astype(np.float64)
        f["overflow"] = np.zeros((len(sample), 4))


# -- nothing of the user's is ever replaced -------------------------------------------
#: The simulation notebooks and the files each writes into its output_dir.
SIMULATIONS = {
    "detector/simulate": ["gamma_40-250GeV.h5", "gamma_40-250GeV.root", "pi0_40-250GeV.h5"],
    "shashlik/simulate": ["gamma.h5", "diphoton.h5"],
    "ldmx/simulate": ["background.root", "signal_1MeV.root"],
    "lartpc/data": ["electron.h5", "muon.h5"],
    "photon_id/explore": ["photon_jet_photon.h5", "photon_jet_jet.h5"],
}


@pytest.mark.notebooks
@pytest.mark.parametrize("stage_id", SIMULATIONS)
def test_a_simulation_pointed_at_a_users_folder_replaces_nothing(stage_id, tmp_path):
    user = tmp_path / "my_files"
    user.mkdir()
    for name in SIMULATIONS[stage_id]:
        if name.endswith(".h5"):
            with h5py.File(user / name, "w") as f:
                f["layer_0"] = np.ones((3, 4, 16))
        else:
            with uproot.recreate(user / name) as f:
                f["ecalHits"] = {"x": np.arange(3.0)}
    before = _checksums(user)
    stage, parameters = _smoke_parameters(stage_id, tmp_path / "data", output_dir=str(user))
    with pytest.raises(papermill.PapermillExecutionError, match="was not written by this library"):
        _run_notebook(stage, parameters, tmp_path)
    assert _checksums(user) == before


def test_an_override_of_the_data_folder_never_reaches_the_simulation_upstream(tmp_path):
    from analysis_lib.errors import ParameterError

    stages, mine = select(STAGES, ["photon_jets/explore"]), tmp_path / "my_files"
    with pytest.raises(ParameterError, match="no such file or folder"):  # before the simulation upstream runs
        check_parameters(stages, "smoke", {"data_dir": str(mine)}, tmp_path)
    mine.mkdir()
    resolved = check_parameters(stages, "smoke", {"data_dir": str(mine)}, tmp_path)
    assert resolved["photon_jets/explore"]["data_dir"] == str(mine)
    assert resolved["detector/simulate"]["output_dir"] == str(tmp_path / "atlas_ecal")  # a simulation writes there
    with pytest.raises(ParameterError, match="never redirect a stage's output"):
        check_parameters(select(STAGES, ["detector/simulate"]), "smoke", {"output_dir": str(mine)}, tmp_path)


# -- the published photon-jet dataset ---------------------------------------------------
@pytest.fixture(scope="module")
def published(tmp_path_factory):
    folder = tmp_path_factory.mktemp("published")
    for seed, particle in enumerate(("gamma", "pi0", "scalar1", "axion1", "axion2")):
        _published_layout(folder, particle, simulate_sample(particle, 300, seed=40 + seed))
    return folder


@pytest.mark.notebooks
def test_the_published_photon_jet_files_go_through_every_notebook(published, tmp_path):
    before = _checksums(published)
    results = tmp_path / "photon_jets" / "axion1"
    common = dict(data_dir=str(published), energy_tag="40-250GeV_100k")
    one_seed = {"cnn": {"spread_seeds": []}, "pfn": {"spread_seeds": []}}  # reading, not the seed spread
    models = [_smoke_parameters(f"photon_jets/{model}/axion1", tmp_path, **common, output_dir=str(results / model),
                                **one_seed.get(model, {})) for model in ("bdt", "cnn", "pfn")]
    _run_side_by_side([_smoke_parameters("photon_jets/explore", tmp_path, **common)] + models, tmp_path)
    compared, _ = _run_side_by_side([
        _smoke_parameters("photon_jets/compare/axion1", tmp_path, results_dir=str(results),
                          output=str(results / "compare" / "headline.csv")),
        _smoke_parameters("photon_jets/interpret/axion1", tmp_path, **common, results_dir=str(results))], tmp_path)
    assert _checksums(published) == before  # read, never written
    with h5py.File(results / "cnn" / "test_outputs.h5") as f:
        energy = np.asarray(f["energy_gev"])  # the published (N, 1) energy became the true energy
    assert energy.ndim == 1 and 40 <= energy.min() and energy.max() <= 250
    figures = [o for c in compared.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(figures) >= 3  # ROC, confusion matrices, efficiency against energy


def test_published_files_without_truth_and_as_root_trees(published, tmp_path):
    from analysis_lib.studies.photon_jets import photon_jet_task

    data = photon_jet_task(published, "axion1", "40-250GeV_100k", 100)
    assert set(data.sample.truth) == {"energy_gev", "overflow_mev"}
    bare = tmp_path / "bare"
    bare.mkdir()
    for particle in ("gamma", "pi0", "axion1"):
        with h5py.File(published / f"{particle}_40-250GeV_100k.h5") as source, \
                h5py.File(bare / f"{particle}_x.h5", "w") as f:
            for i in range(4):
                f[f"layer_{i}"] = source[f"layer_{i}"][:50]
    assert photon_jet_task(bare, "axion1", "x").truth_at(np.arange(3)) == {}
    # the same layout as a ROOT tree inside a directory, after another tree
    layers = read_showers(published / "axion1_40-250GeV_100k.h5").layers
    with uproot.recreate(tmp_path / "axion1_t.root") as f:
        f.mktree("runs", {"run": np.int32})
        f["runs"].extend({"run": np.arange(2, dtype=np.int32)})
        f.mktree("calo/events", {f"layer_{i}": np.dtype((np.float64, layer.shape[1:])) for i,
                                 layer in enumerate(layers)})
        f["calo/events"].extend({f"layer_{i}": layer.astype(np.float64) for i, layer in enumerate(layers)})
    from_root = read_showers(tmp_path / "axion1_t.root")
    assert all(np.array_equal(a, b) for a, b in zip(from_root.layers, layers))
    with pytest.raises(DataFileError, match=r"no tree 'runs2' \(it holds TTree 'runs', TTree 'calo/events'\)"):
        read_showers(tmp_path / "axion1_t.root", tree="runs2")


def test_an_unrelated_object_named_attrs_beside_the_layers_is_passed_over(tmp_path):
    """A user's histogram called 'attrs' is not this library's attributes string."""
    layers = {f"layer_{i}": np.ones((3,) + tuple(shape)) for i, shape in enumerate(ATLAS_ECAL.layer_shapes)}
    with uproot.recreate(tmp_path / "gamma_h.root") as f:
        f.mktree("showers", {k: np.dtype((v.dtype, v.shape[1:])) for k, v in layers.items()})
        f["showers"].extend(layers)
        f["attrs"] = np.histogram(np.arange(10.0), bins=5)
    sample = read_showers(tmp_path / "gamma_h.root")
    assert len(sample.layers[0]) == 3 and sample.attrs["units"] == "MeV"


@pytest.mark.parametrize("name", sorted(p.name for p in FOREIGN_ROOT.glob("*.root")))
def test_every_root_file_from_root_itself_is_refused_in_one_sentence(name):
    """None of them holds calorimeter images or hits: each reader says so by name."""
    for reader in (read_showers, find_hits):
        with pytest.raises(DataFileError) as refused:
            reader(FOREIGN_ROOT / name)
        assert name in str(refused.value) and "\n" not in str(refused.value)


def test_root_files_from_root_itself_are_read_or_refused_by_name():
    with pytest.raises(DataFileError, match="looked at TTree 'one/two/tree', TTree 'one/tree', TTree 'three/tree'"):
        read_showers(FOREIGN_ROOT / "uproot-nesteddirs.root")
    with pytest.raises(DataFileError, match="looked at no tree"):
        read_showers(FOREIGN_ROOT / "uproot-histograms.root")
    with pytest.raises(DataFileError, match="no hits this library recognises"):
        find_hits(FOREIGN_ROOT / "uproot-small-evnt-tree-fullsplit.root")
    # a split custom class: members read by their leaf names, as ldmx-sw collections are
    layout = find_hits(FOREIGN_ROOT / "uproot-small-evnt-tree-fullsplit.root", "tree:P3.Px,P3.Py,P3.Px,P3.Py")
    assert layout == HitLayout("tree", "P3.Px", "P3.Py", "P3.Px", "P3.Py")


# -- negative cells -----------------------------------------------------------------------
def _bdt_auc(samples):
    """AUC of a BDT on the shower shapes, trained on 800 of the events, tested on 400."""
    import xgboost as xgb

    from analysis_lib.features import SHOWER_SHAPES, shower_shapes

    features = [np.column_stack([shower_shapes(s, ATLAS_ECAL)[n] for n in SHOWER_SHAPES]) for s in samples]
    assert all(np.isfinite(f).all() for f in features)
    x, y = np.concatenate(features), np.repeat([0, 1], 600)
    order = np.random.default_rng(0).permutation(1200)
    train, test = order[:800], order[800:]
    bdt = xgb.XGBClassifier(n_estimators=100, max_depth=3, random_state=0, n_jobs=2).fit(x[train], y[train])
    score = bdt.predict_proba(x[test])[:, 1]
    return metrics.auc(score[y[test] == 1], score[y[test] == 0])


def test_a_classifier_trained_on_noise_subtracted_cells_with_negatives_works():
    """Photons against h2 -> pi0 pi0 with symmetric noise kept in every cell, as a
    noise-subtracted read-out gives it: the shower shapes stay finite, the network
    inputs keep the negative cells, and a BDT loses little against noiseless cells."""
    from analysis_lib.features import log_scaled_images
    from analysis_lib.io import ShowerSample

    rng = np.random.default_rng(1)
    ideal = [simulate_sample(p, 600, seed=7 + i, detector=ATLAS_ECAL.ideal()) for i, p in enumerate(("gamma",
                                                                                                     "scalar1"))]
    noisy = [ShowerSample([layer + rng.normal(0, spec.noise_mev, layer.shape).astype(np.float32)
                           for layer, spec in zip(s.layers, ATLAS_ECAL.layers)], s.truth) for s in ideal]
    assert min(layer.min() for layer in noisy[0].layers) < 0
    images = log_scaled_images(noisy[0])
    assert min(i.min() for i in images) < 0 and max(np.abs(i).max() for i in images) <= 1
    # deterministic trees: measured 0.986 noiseless and 0.976 noisy; the AUC's error here is about 0.007
    noiseless_auc, noisy_auc = _bdt_auc(ideal), _bdt_auc(noisy)
    assert noisy_auc > 0.95 and noisy_auc > noiseless_auc - 0.03


# -- LDMX hits -------------------------------------------------------------------------------
def _ldmx_sw_file(path, events, n_pass="v12"):
    """An ldmx-sw-like event file: tree LDMX_Events, a reconstructed collection
    EcalRecHits_<pass> (calibrated energies) and the simulated EcalSimHits_sim."""
    counts = np.array([len(e) for e in events["E"]])
    flat = {k: np.concatenate(events[k]).astype(np.float64) for k in ("x", "y", "z", "E")}
    jag = {k: ak.unflatten(v, counts) for k, v in flat.items()}
    calibrated = ak.unflatten(flat["E"] / LDMX_ECAL.sampling_fraction_at(flat["z"]), counts)
    rec = ak.zip({"xpos_": jag["x"], "ypos_": jag["y"], "zpos_": jag["z"], "energy_": calibrated})
    sim = ak.zip({"x_": jag["x"], "y_": jag["y"], "z_": jag["z"], "edep_": jag["E"]})
    with uproot.recreate(path) as f:
        f.mktree("LDMX_Events", {"EcalSimHits_sim": sim.type, f"EcalRecHits_{n_pass}": rec.type},
                 field_name=lambda outer, inner: f"{outer}.{inner}", counter_name=lambda c: f"n{c}")
        f["LDMX_Events"].extend({"EcalSimHits_sim": sim, f"EcalRecHits_{n_pass}": rec})
    return path


@pytest.fixture(scope="module")
def ldmx_sw_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ldmx_sw")
    samples = [("background", 0.0)] + [(f"signal_{m}MeV", m) for m in (1, 5, 10, 50, 100, 500, 1000)]
    for i, (name, mass) in enumerate(samples):
        kind = "background" if mass == 0 else "signal"
        chunks = list(LDMX_ECAL.simulate(kind, 60 if mass else 300, seed=30 + i, mass_mev=mass or 100.0))
        events = {k: [e for c in chunks for e in c[k]] for k in ("x", "y", "z", "E")}
        _ldmx_sw_file(folder / f"{name}.root", events)
    return folder


def test_ldmx_sw_files_give_the_same_images_as_the_studys_ntuples(ldmx_sw_folder):
    from analysis_lib.studies.ldmx import hits_to_images

    path = ldmx_sw_folder / "background.root"
    layout = find_hits(path)
    assert layout.tree == "LDMX_Events" and layout.energy == "EcalRecHits_v12.energy_" and layout.calibrated
    formats = {"xyz": {"kind": "xyz", "size": 20}}
    reconstructed, n = hits_to_images(path, formats)
    simulated, _ = hits_to_images(path, formats, hits="LDMX_Events:EcalSimHits_sim.x_,EcalSimHits_sim.y_,"
                                                       "EcalSimHits_sim.z_,EcalSimHits_sim.edep_")
    assert n == 300 and np.allclose(reconstructed["xyz"], simulated["xyz"], atol=1e-5)


def test_ecal_hits_inside_a_directory_are_found(tmp_path):
    hits = {k: ak.Array([[1.0, 2.0], [3.0]]) for k in ("x", "y", "z", "E")}
    with uproot.recreate(tmp_path / "h.root") as f:
        f.mktree("meta", {"run": np.int32})
        f.mktree("ntuples/ecalHits", {k: v.type for k, v in hits.items()})
        f["ntuples/ecalHits"].extend(hits)
    assert find_hits(tmp_path / "h.root") == HitLayout("ntuples/ecalHits")


@pytest.mark.notebooks
def test_ldmx_sw_files_go_through_the_image_notebook(ldmx_sw_folder, tmp_path):
    before = _checksums(ldmx_sw_folder)
    stage, parameters = _smoke_parameters("ldmx/images", tmp_path, data_dir=str(ldmx_sw_folder),
                                          output_dir=str(tmp_path / "images"))
    _run_notebook(stage, parameters, tmp_path)
    assert _checksums(ldmx_sw_folder) == before
    with h5py.File(tmp_path / "images" / "images.h5") as f:
        labels = np.asarray(f["label"])
    def with_hits(path):  # events without a hit have no image and are dropped
        return int(np.sum(ak.num(uproot.open(path)["LDMX_Events"]["EcalRecHits_v12.energy_"].array()) > 0))

    assert (labels == 0).sum() == with_hits(ldmx_sw_folder / "background.root")
    assert (labels == 1).sum() == sum(with_hits(p) for p in ldmx_sw_folder.glob("signal_*MeV.root"))


# -- photon-ID clusters with ntuple names ------------------------------------------------
def _photon_id_ntuple(path, sample, rng, mass_name=None):
    """A photon-ID cluster ntuple: float64 cell images with symmetric noise (negative
    cells), signed ``eta``, ``et``, R_had as ``rhad1``, and optionally m_llgamma."""
    from analysis_lib.detectors import PHOTON_ID_ECAL

    layers = [layer + rng.normal(0, spec.noise_mev, layer.shape)
              for layer, spec in zip(sample.layers, PHOTON_ID_ECAL.layers)]
    energy_gev = sum(layer.sum(axis=(1, 2)) for layer in layers) / 1000
    eta = sample.truth["abs_eta"] * rng.choice([-1.0, 1.0], len(sample))
    with h5py.File(path, "w") as f:
        for i, layer in enumerate(layers):
            f[f"layer_{i}"] = layer
        f["eta"], f["et"] = eta, energy_gev / np.cosh(eta)
        f["rhad1"] = sample.truth["hadronic_energy_gev"] / energy_gev
        if mass_name:
            f[mass_name] = sample.truth["m_llgamma_gev"]


@pytest.fixture(scope="module")
def photon_id_ntuples(tmp_path_factory):
    from analysis_lib.detectors import PHOTON_ID_ECAL

    folder, rng = tmp_path_factory.mktemp("photon_id_ntuples"), np.random.default_rng(3)
    for i, (process, n) in enumerate((("photon_jet", 600), ("radiative_z", 400))):
        for kind in ("photon", "jet"):
            sample = simulate_sample(kind, n, seed=60 + i, detector=PHOTON_ID_ECAL, process=process)
            _photon_id_ntuple(folder / f"{process}_{kind}.h5", sample, rng,
                              mass_name="mll_gamma" if process == "radiative_z" else None)
    return folder


def test_photon_id_truth_takes_ntuple_names_or_refuses_in_one_sentence(photon_id_ntuples):
    from analysis_lib.studies.photon_id import photon_id_sample
    from analysis_lib.errors import ParameterError

    data = photon_id_sample(photon_id_ntuples, "radiative_z", truth_names={"m_llgamma_gev": "mll_gamma"})
    with h5py.File(photon_id_ntuples / "radiative_z_photon.h5") as f:
        eta, rhad = np.asarray(f["eta"]), np.asarray(f["rhad1"])
    photons = data.sample.truth["abs_eta"][data.labels == 1]
    assert np.array_equal(photons, np.abs(eta)) and (eta < 0).any()
    energy = data.sample.total_energy_gev()[data.labels == 1]
    assert np.allclose(data.sample.truth["hadronic_energy_gev"][data.labels == 1] / energy, rhad)
    assert min(layer.min() for layer in data.sample.layers) < 0  # noise-subtracted cells kept
    with pytest.raises(DataFileError, match="has no 'mllg_typo' \\(truth_names takes it as m_llgamma_gev\\)"):
        photon_id_sample(photon_id_ntuples, "radiative_z", truth_names={"m_llgamma_gev": "mllg_typo"})
    with pytest.raises(ParameterError, match="truth_names maps 'pt'"):
        photon_id_sample(photon_id_ntuples, "radiative_z", truth_names={"pt": "et"})


@pytest.mark.notebooks
def test_photon_id_ntuples_go_through_every_notebook(photon_id_ntuples, tmp_path):
    before = _checksums(photon_id_ntuples)
    reading = dict(data_dir=str(photon_id_ntuples), truth_names={"m_llgamma_gev": "mll_gamma"})
    _run_notebook(*_smoke_parameters("photon_id/cut_based", tmp_path, **reading), tmp_path)
    # the CNN reads the menu's decisions; one training seed, the files being the point
    _run_notebook(*_smoke_parameters("photon_id/hybrid_cnn", tmp_path, **reading, spread_seeds=[]), tmp_path)
    _run_side_by_side([_smoke_parameters("photon_id/export_onnx", tmp_path, **reading),
                       _smoke_parameters("photon_id/template_fit", tmp_path)], tmp_path)
    assert _checksums(photon_id_ntuples) == before
    with h5py.File(tmp_path / "photon_id" / "cnn" / "radiative_z.h5") as f:
        mass, is_photon = np.asarray(f["m_llgamma_gev"]), np.asarray(f["is_photon"])
    with h5py.File(photon_id_ntuples / "radiative_z_jet.h5") as f:
        assert np.array_equal(mass[~is_photon], f["mll_gamma"][:])  # the events' own masses, in file order
    assert (tmp_path / "photon_id" / "template_fit" / "template_fit.csv").exists()


def test_a_data_folder_override_never_reaches_a_simulation_that_writes_files(tmp_path):
    mine = str(tmp_path)
    resolved = check_parameters(select(STAGES, ["photon_id"]), "smoke", {"data_dir": mine}, "/d")
    assert resolved["photon_id/explore"]["output_dir"] == "/d/photon_id"  # it writes files there, by its role
    assert "data_dir" not in resolved["photon_id/explore"]
    assert all(resolved[f"photon_id/{s}"]["data_dir"] == mine for s in ("cut_based", "hybrid_cnn"))


# -- LArTPC: one file of images per class, noise-subtracted ------------------------------
@pytest.mark.notebooks
def test_lartpc_files_of_images_only_with_negative_pixels_go_through_training(tmp_path):
    """Files holding only ``layer_0`` (no truth), in ADC counts (about 50 per MeV) with a
    pedestal subtracted so empty pixels scatter around zero: the training notebook runs
    on them with ``mip_charge`` in counts, without a noise-free twin, and writes
    nothing into their folder; the small head reads them in MIPs."""
    from analysis_lib.detectors import LARTPC
    from analysis_lib.detectors.lartpc import CLASSES

    folder = tmp_path / "my_lartpc"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for i, name in enumerate(CLASSES):
        counts = 50.0 * LARTPC.simulate_stream(name, 40, 60 + i, 0)["layer_0"]
        with h5py.File(folder / f"{name}.h5", "w") as f:
            f["layer_0"] = (counts + rng.normal(0.0, 1.5, counts.shape)).astype(np.float32)
    before = _checksums(folder)
    models = tmp_path / "models"
    # the reading path needs the published network and one small head in MIPs, not the scalings' comparison
    # or a second seed (a third of the training)
    page = _run_notebook(*_smoke_parameters("lartpc/train", tmp_path, data_dir=str(folder), noise_free_dir="",
                                            mip_charge=50.0 * LARTPC.mip_mev_per_wire, output_dir=str(models),
                                            small_head_scalings=["charge"], spread_seeds=[]),
                         tmp_path)
    assert _checksums(folder) == before
    shown = "".join(str(o.get("data", {}).get("text/plain", "")) for c in page.cells for o in c.get("outputs", []))
    assert "noise-free" not in shown and "pions: no hadronic" not in shown  # no twin, no truth: not claimed
    with h5py.File(models / "test_split.h5") as f:
        assert f.attrs["mip_charge"] == pytest.approx(50.0 * LARTPC.mip_mev_per_wire)


# -- shashlik truth, one value per event -----------------------------------------------------
def test_shashlik_truth_of_single_photons_may_be_one_value_per_event(tmp_path):
    """A user's single-photon file with (N,) truth, the natural layout, reads as (N, 1)
    photons; a two-photon chapter given it says what it needs in one sentence."""
    from analysis_lib.detectors import SHASHLIK_ECAL
    from analysis_lib.studies.shashlik import photon_truth

    rng = np.random.default_rng(4)
    truth = {"photon_x_mm": rng.uniform(-50, 50, 6), "photon_y_mm": rng.uniform(-50, 50, 6),
             "photon_energy_gev": rng.uniform(2, 200, 6)}
    with h5py.File(tmp_path / "gamma.h5", "w") as f:
        f["layer_0"] = rng.uniform(0, 100, (6,) + tuple(SHASHLIK_ECAL.layer_shapes[0]))
        for name, values in truth.items():
            f[name] = values
    sample = read_showers(tmp_path / "gamma.h5", detector=SHASHLIK_ECAL)
    photons = photon_truth(sample, n_photons=1)
    assert photons.shape == (6, 1, 3)
    assert np.array_equal(photons[:, 0, 0], truth["photon_x_mm"]) and np.array_equal(photons[:, 0, 2],
                                                                                       truth["photon_energy_gev"])
    with pytest.raises(DataFileError, match=r"photon_x_mm in .*gamma.h5 has shape \(6,\), expected \(6, 2\)"):
        photon_truth(sample, n_photons=2)
    del sample.truth["photon_y_mm"]
    with pytest.raises(DataFileError, match="has no truth 'photon_y_mm'"):
        photon_truth(sample, n_photons=1)


# -- LDMX hits the images cannot show ---------------------------------------------------------
def _user_hits(path, rng):
    """A user's ntuple spanning z 240-600 mm and x-y +-300 mm, with noise-subtracted
    (sometimes negative) energies, written with plain uproot."""
    counts = rng.integers(5, 40, 50)
    n = int(counts.sum())
    columns = {"x": rng.uniform(-300, 300, n), "y": rng.uniform(-300, 300, n), "z": rng.uniform(240, 600, n),
               "E": rng.normal(2.0, 1.5, n)}
    jagged = {k: ak.unflatten(v, counts) for k, v in columns.items()}
    with uproot.recreate(path) as f:
        f.mktree("ecalHits", {k: v.type for k, v in jagged.items()})
        f["ecalHits"].extend(jagged)
    return columns


def test_ldmx_hits_below_zero_or_outside_the_images_are_counted_and_said(tmp_path, capsys):
    from analysis_lib.cli import main
    from analysis_lib.studies.ldmx import IMAGE_XY_RANGE_MM, IMAGE_Z_RANGE_MM, hit_summary, hits_to_images

    hits = _user_hits(tmp_path / "mine.root", np.random.default_rng(8))
    summary = hit_summary(tmp_path / "mine.root")
    outside_z = (hits["z"] < IMAGE_Z_RANGE_MM[0]) | (hits["z"] > IMAGE_Z_RANGE_MM[1])
    outside_xy = (np.abs(hits["x"]) > IMAGE_XY_RANGE_MM[1]) | (np.abs(hits["y"]) > IMAGE_XY_RANGE_MM[1])
    assert summary.negative_hits == int((hits["E"] < 0).sum()) > 0
    assert summary.outside_z_hits == int(outside_z.sum()) > 0 and summary.outside_xy_hits == int(outside_xy.sum()) > 0
    assert summary.outside_z_energy_mev == pytest.approx(hits["E"][outside_z].sum())
    assert main(["inspect", str(tmp_path / "mine.root"), "--detector", "ldmx-ecal"]) == 0
    said = capsys.readouterr().out
    assert f"{summary.negative_hits} of {len(hits['E'])} hits have negative energy" in said
    assert f"{summary.outside_z_hits} hits (" in said and "outside the images' z span 240 to 530 mm, added" in said
    assert main(["inspect", str(tmp_path / "mine.root"), "--detector", "ldmx-ecal", "--negative-cells", "refuse"]) == 2
    assert f"{summary.negative_hits} hits of negative energy" in capsys.readouterr().err
    formats = {"xyz": {"kind": "xyz", "size": 10}}
    kept, _ = hits_to_images(tmp_path / "mine.root", formats)
    clipped, _ = hits_to_images(tmp_path / "mine.root", formats, negative_cells="clip")
    assert kept["xyz"].min() < 0 and clipped["xyz"].min() >= 0


def test_one_command_runs_the_whole_ldmx_study_on_a_users_folder(ldmx_sw_folder, tmp_path):
    """run --only ldmx -p data_dir=FOLDER: the images come from the user's files, the
    networks train on them and the unseen-mass chapter reads their results; the folder
    is left as it was. A folder with fewer masses stops with a sentence naming masses_mev."""
    from analysis_lib.pipeline import Pipeline

    before = _checksums(ldmx_sw_folder)
    run = Pipeline(select(STAGES, ["ldmx"]), profile="smoke", root=ROOT, data_dir=tmp_path / "data", jobs=2,
                   book_dir=tmp_path / "book", overrides={"data_dir": str(ldmx_sw_folder), "spread_seeds": []},
                   log=lambda m: None)  # one training seed: the user's files are the point, not the spread
    results = {r.stage: r for r in run.run()}
    assert {s: r.status for s, r in results.items()} == dict.fromkeys(results, "ran"), \
        {s: r.message for s, r in results.items()}
    assert _checksums(ldmx_sw_folder) == before
    with h5py.File(tmp_path / "data" / "ldmx" / "images" / "images.h5") as f:
        assert (np.asarray(f["label"]) == 0).sum() == 300  # the user's 300 background events, not the simulation's
    assert (tmp_path / "data" / "ldmx" / "unseen_masses" / "unseen_masses.csv").is_file()

    fewer = tmp_path / "fewer"
    fewer.mkdir()
    for name in ("background", "signal_1MeV", "signal_10MeV", "signal_100MeV"):
        (fewer / f"{name}.root").write_bytes((ldmx_sw_folder / f"{name}.root").read_bytes())
    run = Pipeline(select(STAGES, ["ldmx/images"]), profile="smoke", root=ROOT, data_dir=tmp_path / "data",
                   book_dir=tmp_path / "book", overrides={"data_dir": str(fewer)}, log=lambda m: None)
    failed = [r for r in run.run() if r.stage == "ldmx/images"][0]
    assert failed.status == "failed"
    assert "no signal_<m>MeV.root for 5, 50, 500, 1000 MeV of the parameter masses_mev" in failed.message
    assert "it holds 1, 10, 100 MeV: set masses_mev to those" in failed.message

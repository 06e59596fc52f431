"""The benchmark's peers compute what they claim: the same decoding, the seed's shapes."""

import numpy as np
import pytest

from bench import inputs, peer_seed
from htr.decode import ctc
from htr.ink.ink import Ink


def test_textbook_beam_search_agrees_with_htr():
  logprobs = inputs.peaky_logprobs(3, 60, 6, seed=4)
  for lp in logprobs:
    ours = ctc.prefix_beam_search(lp, beam_width=8)[0][0]
    assert peer_seed.prefix_beam_search(lp, beam_width=8) == ours


def test_seed_preprocessor_resamples_each_stroke_and_marks_starts():
  ink = Ink(np.array([[0, 0, 0], [0, 10, 1], [5, 0, 2], [5, 0, 2.5], [15, 0, 3]], np.float32),
            [2, 3])
  strokes = peer_seed.to_seed_strokes(ink.points, ink.stroke_lengths)
  out = peer_seed.SeedPreprocessor(target_height=10.0, resample_density=1.0).process(strokes)
  # Stroke 1: 10 units long -> 10 points; stroke 2: 10 units (one repeated point) -> 10.
  assert out.shape == (20, 4)
  np.testing.assert_array_equal(np.flatnonzero(out[:, 3]), [0, 10])
  np.testing.assert_allclose(out[1:10, 1].sum(), 10.0, rtol=1e-6)


def test_peaky_logprobs_are_normalised_and_mostly_blank():
  lp = inputs.peaky_logprobs(2, 200, 10)
  np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, rtol=1e-5)
  assert 0.5 < (lp.argmax(-1) == 0).mean() < 0.95


def test_torch_peer_has_the_seed_architecture():
  torch = pytest.importorskip("torch")
  from bench import peer_torch
  model = peer_torch.SeedModel(80)
  convs = [m for m in model.conv if isinstance(m, torch.nn.Conv1d)]
  assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [
      (4, 64, 5), (64, 128, 5), (128, 256, 3)]
  assert (model.lstm.num_layers, model.lstm.hidden_size, model.lstm.bidirectional) == (
      3, 256, True)
  x = torch.randn(2, 30, 4)
  lengths = torch.tensor([30, 17])
  assert model(x, lengths).shape == (2, 30, 80)
  labels = torch.tensor([[1, 2, 3], [4, 5, 0]])
  loss = peer_torch.train_step_fn(model)(x, lengths, labels, torch.tensor([3, 2]))
  assert np.isfinite(loss)


def test_torch_peer_padded_path_equals_packed_on_full_rows():
  """`packed=False` (the peer's fast training path) computes the same when nothing is padded."""
  torch = pytest.importorskip("torch")
  from bench import peer_torch
  torch.manual_seed(0)
  model = peer_torch.SeedModel(11, hidden=8, channels=(4, 4, 4)).eval()
  x, lengths = torch.randn(2, 9, 4), torch.tensor([9, 9])
  packed = model(x, lengths)
  model.packed = False
  torch.testing.assert_close(model(x, lengths), packed)


def test_torch_crnn_peer_reads_a_line_at_a_quarter_of_its_width():
  torch = pytest.importorskip("torch")
  from bench import peer_crnn
  model = peer_crnn.SeedCRNN(80)
  convs = [m for m in model.conv if isinstance(m, torch.nn.Conv2d)]
  assert [(c.in_channels, c.out_channels) for c in convs] == [
      (1, 32), (32, 64), (64, 128), (128, 256)]
  assert (model.lstm.input_size, model.lstm.num_layers, model.lstm.hidden_size,
          model.lstm.bidirectional) == (4 * 256, 2, 256, True)
  image = peer_crnn.prepare(inputs.line_picture(120), 64, 120)
  assert image.shape == (1, 1, 64, 120) and 0.0 <= float(image.min()) <= float(image.max()) <= 1.0
  assert model.eval()(image).shape == (1, 30, 80)
  assert len(peer_crnn.recognise_fn(model)(image)) == 1


@pytest.mark.parametrize("impl", ["htr", "peer"])
@pytest.mark.parametrize("case", ["offline_line", "offline_read"])
def test_offline_cases_run(monkeypatch, case, impl):
  """The offline cases, small: htr's tiny CRNN and the peer on a 128-pixel line."""
  if impl == "peer":
    pytest.importorskip("torch")
  from bench import cases
  monkeypatch.setattr(cases, "WARMUP_S", 0.0)
  monkeypatch.setattr(cases, "MIN_MEASURE_S", 0.0)
  kwargs = {"size": "tiny"} if impl == "htr" else {}
  result = getattr(cases, f"{impl}_{case}")(2, width=128, **kwargs)
  assert len(result["times_s"]) == 2 and result["value"] > 0 and result["params"] > 0
  if impl == "htr" and case == "offline_read":
    assert result["padded_width"] >= result["read_width"] > 64


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_torch_detector_peer_has_htr_detectors_layers(size):
  """Every parameter of htr's line detector has a PyTorch twin of the same shape (Flax
  kernels HWIO, PyTorch's OIHW), and the maps come out at stride 4."""
  pytest.importorskip("torch")
  import jax

  from bench import cases, peer_detector
  _, task = cases._detect_task(size, 64)
  batch = {"image": np.zeros((1, 64, 64, 1), np.float32)}
  shapes = jax.eval_shape(task.init, jax.random.key(0), batch)["params"]
  ours = sorted(tuple(s.shape[::-1][:2] + s.shape[:2]) if len(s.shape) == 4 else s.shape
                for s in jax.tree.leaves(shapes))
  model = cases._peer_detector(size, 64)[1]
  assert sorted(tuple(p.shape) for p in model.parameters()) == ours
  maps = peer_detector.detect_fn(model)(batch["image"][0])
  assert maps["region"].shape == (16, 16) and maps["edges"].shape == (16, 16, 2)


def test_bench_page_is_a_note_of_the_stated_lines():
  picture, page = inputs.page()
  assert len(page.lines) == inputs.PAGE_LINES and picture.shape == (page.height, page.width, 3)
  assert picture.shape[1] == inputs.PAGE_WIDTH


@pytest.mark.parametrize("impl", ["htr", "peer"])
@pytest.mark.parametrize("case", ["page_detect", "page_read"])
def test_page_cases_run(monkeypatch, case, impl):
  """The page cases, small: tiny detectors on a 256-pixel working page (htr: a tiny
  CRNN); both read all the page's lines."""
  if impl == "peer":
    pytest.importorskip("torch")
  from bench import cases
  monkeypatch.setattr(cases, "WARMUP_S", 0.0)
  monkeypatch.setattr(cases, "MIN_MEASURE_S", 0.0)
  kwargs = {"line_size": "tiny"} if impl == "htr" and case == "page_read" else {}
  result = getattr(cases, f"{impl}_{case}")(2, size="tiny", page_size=256, **kwargs)
  assert len(result["times_s"]) == 2 and result["value"] > 0
  assert result["p95_s"] >= result["median_s"]
  if case == "page_read":
    assert result["lines"] == inputs.PAGE_LINES and result["params"]["recogniser"] > 0
  else:
    assert result["input_shape"] in ([1, 256, 256, 1], [1, 1, 256, 256])

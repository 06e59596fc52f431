"""Image ops: decoding, EMNIST orientation, relabelling, augmentation determinism and range."""

import numpy as np
import pytest

from htr.data import registry
from htr.text import charsets
from htr.errors import InputError

_AUGMENT = ("random_affine_image(rotation_deg=15, scale=0.15, shear=0.3, translate=2)"
            "|elastic(p=0.5, alpha=8, sigma=3)|thickness(p=0.5)|image_noise(sigma=0.05)")


def _example(label: int = 3) -> dict:
  image = np.zeros((28, 28, 1), np.uint8)
  image[6:22, 12:16] = 255  # A vertical bar.
  image[6:10, 12:22] = 255  # A flag at the top right: not symmetric.
  return {"image": image, "label": np.int64(label), "id": "x"}


def test_decode_image():
  out = registry.build("decode_image")(_example(), np.random.default_rng(0))
  assert out["image"].dtype == np.float32 and out["image"].shape == (28, 28, 1)
  assert out["image"].max() == 1.0 and out["label"].dtype == np.int32


@pytest.mark.parametrize("image", [np.ones((28, 28, 1), np.float32),
                                   np.ones((28, 28, 1), np.uint16),
                                   np.ones((28, 28, 3), np.uint8)],
                         ids=["float", "uint16", "rgb"])
def test_decode_image_refuses_what_it_would_scale_wrongly(image):
  with pytest.raises(InputError, match=r"sample x: image must be uint8 grey"):
    registry.build("decode_image")({**_example(), "image": image}, np.random.default_rng(0))


def test_emnist_transpose_on_tfds_mock_data():
  """TFDS's emnist images, as mock_data yields them, come out transposed back."""
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=2):
    source = tfds.data_source("emnist/balanced", split="train")
    record = source[0]
  op = registry.build("emnist_transpose|decode_image|relabel(from_classes='emnist_balanced')")
  out = op(dict(record), np.random.default_rng(0))
  np.testing.assert_allclose(out["image"][..., 0], record["image"][..., 0].T / 255.0, atol=1e-6)
  assert charsets.CHARS94[out["label"]] == charsets.EMNIST_BALANCED[record["label"]]


def test_emnist_transpose_turns_stored_image_upright():
  upright = _example()["image"]
  stored = np.swapaxes(upright, 0, 1)  # How EMNIST's files hold it.
  out = registry.build("emnist_transpose")({"image": stored}, np.random.default_rng(0))
  np.testing.assert_array_equal(out["image"], upright)


def test_relabel_maps_by_character():
  op = registry.build("relabel(from_classes='emnist_balanced', to_classes='chars94')")
  for label, char in enumerate(charsets.EMNIST_BALANCED):
    out = op({"label": label}, np.random.default_rng(0))
    assert charsets.CHARS94[out["label"]] == char
  with pytest.raises(InputError):
    op({"label": 47}, np.random.default_rng(0))
  with pytest.raises(ValueError):
    registry.build("relabel(from_classes='chars94', to_classes='digits')")


def test_relabel_from_a_dataset_numbering_classes_from_one():
  """EMNIST letters: labels 1-26 are A-Z (cases merged); 0 is not a class."""
  op = registry.build("relabel(from_classes='emnist_letters', to_classes='emnist_letters',"
                      " first_label=1)")
  assert [int(op({"label": k}, None)["label"]) for k in (1, 2, 26)] == [0, 1, 25]
  for bad in (0, 27):
    with pytest.raises(InputError, match="outside emnist_letters"):
      op({"label": bad, "id": "x"}, None)


def test_augmentation_is_deterministic_in_range_and_keeps_ink():
  fn = registry.build("decode_image|" + _AUGMENT)
  base = registry.build("decode_image")(_example(), np.random.default_rng(0))["image"]
  outs = [fn(_example(), np.random.default_rng(seed))["image"] for seed in (0, 0, 1)]
  np.testing.assert_array_equal(outs[0], outs[1])
  assert not np.array_equal(outs[0], outs[2])
  for seed in range(20):
    image = fn(_example(), np.random.default_rng(seed))["image"]
    assert image.dtype == np.float32 and image.shape == (28, 28, 1)
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert 0.4 < image.sum() / base.sum() < 2.5


def test_identity_parameters_change_nothing():
  fn = registry.build("decode_image|random_affine_image(rotation_deg=0, scale=0, shear=0, "
                      "translate=0)|image_noise(sigma=0)")
  out = fn(_example(), np.random.default_rng(0))["image"]
  np.testing.assert_allclose(out, _example()["image"] / 255.0, atol=1e-6)


def test_translate_moves_ink_and_rotation_turns_it():
  fn = registry.build("decode_image|random_affine_image(rotation_deg=0, scale=0, shear=0, "
                      "translate=3)")
  base = _example()["image"][..., 0] / 255.0
  image = fn(_example(), np.random.default_rng(0))["image"][..., 0]
  com = lambda x: np.array([(x.sum(1) * np.arange(28)).sum(), (x.sum(0) * np.arange(28)).sum()]
                           ) / x.sum()
  shift = com(image) - com(base)
  assert 0.1 < np.abs(shift).max() <= 3.01
  rotate = registry.build("decode_image|random_affine_image(rotation_deg=90, scale=0, "
                          "shear=0, translate=0)")
  turned = rotate(_example(), np.random.default_rng(0))["image"][..., 0]
  assert np.abs(turned - base).sum() > 0.2 * base.sum()

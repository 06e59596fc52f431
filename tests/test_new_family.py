"""A new problem family is new files, nothing else: this module is one.

It adds a toy family, "how many strokes does this ink have?", as a researcher would in
their own repository: a preprocessing op, a flax model, a task with its inference hooks
and a config, all here. Then it goes through everything htr does with a family: sharded
training on 8 devices, evaluation, export to a SavedModel, the `htr` command over the
checkpoint and over the export, and the HTTP server. No htr file names this family: the
trainer, exporter, command and server find it by the names in its config.
"""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from htr import cli, evaluate, export, train
from htr.data.bucketing import PadSpec
from htr.data.registry import register
from htr.ink.ink import Ink
from htr.tasks import base, signatures

MAX_STROKES = 8
_SPEC = "decode_ink|normalize|resample(spacing=0.2)|features(names=('dx', 'dy', 'pen_up'))"


# -- the family's op, model, task and config --------------------------------------
@register("count_strokes")
def get_count_strokes(max_count: int = MAX_STROKES):
  """`ink` -> int32 `label`: its stroke count minus one, capped at `max_count` - 1."""
  def op(example):
    return {**example, "label": np.int32(min(example["ink"].num_strokes, max_count) - 1)}
  return op


class StrokeCounter(nn.Module):
  """Per-point features -> a masked mean of a small MLP -> stroke-count logits."""

  num_classes: int
  features: int = 16

  @nn.compact
  def __call__(self, inputs, lengths, *, train: bool = False):
    mask = (jnp.arange(inputs.shape[1])[None] < lengths[:, None])[..., None]
    h = nn.relu(nn.Dense(self.features)(inputs)) * mask
    return nn.Dense(self.num_classes)(h.sum(1) / jnp.maximum(mask.sum(1), 1))


class StrokeCountTask(base.Task):
  """Ink -> its number of strokes (1 to MAX_STROKES)."""

  main_metric = ("accuracy", "max")

  def __init__(self, config, metadata=None):
    super().__init__(config, metadata)
    from htr import models
    self.model = models.build(config.model, num_classes=MAX_STROKES)

  def padding(self):
    return {"inputs": PadSpec(tuple(self.config.data.buckets), 0.0, "input_lengths")}, "inputs"

  def dummy_batch(self, batch_size):
    length = self.config.data.buckets[0]
    return {"inputs": np.zeros((batch_size, length, 3), np.float32),
            "input_lengths": np.full((batch_size,), length, np.int32),
            "label": np.zeros((batch_size,), np.int32), "mask": np.ones((batch_size,))}

  def model_inputs(self, batch):
    return {"inputs": batch["inputs"], "lengths": batch["input_lengths"]}

  def loss(self, params, model_state, batch, rng):
    logits = self.model.apply({"params": params}, **self.model_inputs(batch))
    per_example = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    loss = jnp.sum(per_example * batch["mask"]) / jnp.maximum(batch["mask"].sum(), 1.0)
    return loss, (model_state, {"loss": loss})

  def predict(self, variables, batch):
    probs = jax.nn.softmax(self.model.apply(variables, **self.model_inputs(batch)))
    return {"count": jnp.argmax(probs, -1).astype(jnp.int32) + 1, "confidence": probs.max(-1)}

  def records(self, batch, outputs):
    return [{"id": str(batch["id"][i]), "strokes": int(batch["label"][i]) + 1,
             "prediction": int(outputs["count"][i])}
            for i in range(len(batch["mask"])) if batch["mask"][i]]

  def summarize(self, records):
    hits = [r["strokes"] == r["prediction"] for r in records]
    return {"accuracy": float(np.mean(hits)) if hits else 0.0,
            "num_examples": float(len(records))}

  def results(self, outputs):
    return [{"text": str(int(n)), "confidence": float(p)}
            for n, p in zip(outputs["count"], outputs["confidence"])]

  def serving(self):
    """htr's ink signature half (raw points in, this config's ops in the graph)."""
    signature = signatures.for_config(self.config)

    def result(outputs):
      if (refusal := signature.check(outputs)) is not None:
        return {"error": refusal}
      return {"text": str(int(outputs["count"])), "confidence": float(outputs["confidence"])}

    return base.Serving(
        kind=signature.kind, returns="text", accepts=signature.accepts,
        inputs=signature.inputs, preprocess=signature.preprocess,
        batch_shapes=signature.batch_shapes, predict=self.predict,
        prepare=signature.prepare, result=result, warm_up=signature.warm_up,
        outputs={"count": "count", "confidence": "confidence", **signature.outputs},
        trim=signature.trim, settings=signature.settings,
        description=signature.description + " Returns count and confidence.")


def get_config(data_dir: str) -> ml_collections.ConfigDict:
  from htr import config_lib
  config = config_lib.runlocal(config_lib.trainer_defaults(ml_collections.ConfigDict()))
  config.task = f"{__name__}:StrokeCountTask"
  config.model = ml_collections.ConfigDict({"name": f"{__name__}:StrokeCounter"})
  config.data = ml_collections.ConfigDict(dict(
      name="synthetic_ink/tiny", data_dir=data_dir, manual_dir=None, train_split="train",
      eval_split="validation", input_kind="ink", features=("dx", "dy", "pen_up"),
      resample_spacing=0.2, buckets=(64, 128, 256, 512, 1024), max_label_length=1,
      window_batches=2, skip_bad=False, num_threads=1, prefetch=2,
      pp_train=_SPEC + "|count_strokes|keep(keys=('id', 'inputs', 'label'))",
      pp_eval=_SPEC + "|count_strokes|keep(keys=('id', 'inputs', 'label'))",
      pp_predict=_SPEC + "|keep(keys=('id', 'inputs'))"))
  return config


# -- the family through htr --------------------------------------------------------
@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("strokes"))
  config = get_config(data_dir)
  assert jax.device_count() == 8
  metrics = train.train_and_evaluate(config, workdir)
  assert 0.0 <= metrics["accuracy"] <= 1.0
  return config, workdir


def _inks(tmp_path) -> list[str]:
  from htr.ink import inkml
  paths = []
  for n in (1, 3):
    strokes = [np.array([[10.0 * i, 0.0, 0.1 * i], [10.0 * i + 3, 20.0, 0.1 * i + 0.05]])
               for i in range(n)]
    paths.append(str(tmp_path / f"{n}.inkml"))
    inkml.write_inkml(Ink.from_strokes(strokes), {}, paths[-1])
  return paths


def test_a_family_from_outside_htr_trains_evaluates_exports_and_serves(trained, tmp_path,
                                                                       capsys, serving_client):
  config, workdir = trained
  report = evaluate.evaluate(config, workdir, split="test")
  assert report["metrics"]["num_examples"] > 0
  metadata = export.export(workdir, weight_formats=("float32",))
  assert metadata["task"] == config.task and metadata["input_kind"] == "ink"

  # The `htr` command, over the checkpoint and over the SavedModel: the same answers.
  paths = _inks(tmp_path)
  assert cli.main(["recognize", f"--workdir={workdir}", *paths]) == 0
  from_checkpoint = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
  assert cli.main(["recognize", f"--saved_model={workdir}/export", *paths]) == 0
  from_export = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
  assert [row[0] for row in from_checkpoint] == paths
  assert [row[:2] for row in from_export] == [row[:2] for row in from_checkpoint]
  assert all(row[1] in "12345678" for row in from_export)

  # The server, through its generic model wrapper.
  with serving_client({"strokes": os.path.join(workdir, "export")}) as client:
    listed = client.get("/v1/models/strokes").json()
    assert listed["kind"] == "ink_text" and listed["inputs"] == ["ink"]
    strokes = [[[0, 0, 0], [0, 20, 0.05]], [[10, 0, 0.1], [10, 20, 0.15]]]
    answer = client.post("/v1/models/strokes/ink", json={"strokes": strokes})
    assert answer.status_code == 200, answer.text
    assert answer.json()["text"] in "12345678"
    refused = client.post("/v1/models/strokes/image",
                          files={"file": ("x.png", b"\x89PNG not decoded", "image/png")})
    assert refused.status_code == 422 and "reads ink, not images" in refused.text

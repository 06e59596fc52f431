"""Builds htr's datasets into array_record, like `tfds build` but without its extra deps.

  python -m htr_datasets synthetic_ink/small
  python -m htr_datasets iam_ondb --manual_dir=~/iam_ondb [--data_dir=~/tensorflow_datasets]

(`tfds build datasets/iam_ondb --file_format=array_record` also works where apache_beam
and mlcroissant are installed; they are not htr dependencies because they pin older
protobuf and pillow than TensorFlow 2.21 uses.)
"""

import argparse

import tensorflow_datasets as tfds

import htr_datasets  # noqa: F401  (registers the builders)
from htr.data.pipeline import expand_user


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("name", help="dataset[/config], e.g. synthetic_ink/small or iam_ondb")
  parser.add_argument("--data_dir", default=None, help="TFDS data dir")
  parser.add_argument("--manual_dir", default=None, help="folder of downloaded files")
  args = parser.parse_args()
  builder = tfds.builder(args.name, data_dir=expand_user(args.data_dir),
                         file_format="array_record")
  manual_dir = expand_user(args.manual_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  for split, info in builder.info.splits.items():
    print(f"{args.name} {split}: {info.num_examples} examples in {builder.data_dir}")


if __name__ == "__main__":
  main()

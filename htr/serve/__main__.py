"""python -m htr.serve --models=DIR: the same as `htr serve`."""

import argparse
import sys

from htr.serve import server

if __name__ == "__main__":
  parser = argparse.ArgumentParser(prog="python -m htr.serve", description=__doc__)
  server.add_arguments(parser)
  sys.exit(server.run(parser.parse_args()))

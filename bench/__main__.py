"""`python -m bench`: see bench/run.py."""

from bench import run

if __name__ == "__main__":
  run.main()

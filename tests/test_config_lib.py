"""Config argument strings: literals, bare flags, typos rejected."""

import pytest

from htr import config_lib


def test_parse_arg_literals_strings_and_flags():
  arg = config_lib.parse_arg("data=iam_ondb,steps=5,runlocal", data="synthetic", steps=1,
                             runlocal=False)
  assert (arg.data, arg.steps, arg.runlocal) == ("iam_ondb", 5, True)


def test_parse_arg_rejects_unknown_keys():
  with pytest.raises(ValueError, match="unknown config argument 'szie'"):
    config_lib.parse_arg("szie=base", size="small")

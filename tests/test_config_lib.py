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


@pytest.mark.parametrize("value, expected", [("false", False), ("False", False), ("0", False),
                                             ("true", True), ("TRUE", True), ("1", True)])
def test_parse_arg_booleans(value, expected):
  assert config_lib.parse_arg(f"runlocal={value}", runlocal=not expected).runlocal is expected


def test_parse_arg_refuses_a_boolean_it_cannot_read():
  """bool("no") is True: `runlocal=no` used to turn the tiny config on."""
  with pytest.raises(ValueError, match="runlocal='no' is not a boolean"):
    config_lib.parse_arg("runlocal=no", runlocal=False)

"""The training loop's progress line: steps/s of the last window, ETA from the whole run.

clu's `ReportProgress` estimates the ETA from the last window alone, so on a CPU a
window that holds a new length bucket's compilation reads "0.0 steps/s, ETA: 10h"
and the next one "ETA: 16m". This report keeps clu's output (work-unit notes,
`steps_per_sec` and `uptime` scalars, the time split of `timed` parts) but takes
the ETA from the rate since the first step finished, which includes every compile
so far and settles instead of swinging.
"""

from __future__ import annotations

from clu import periodic_actions, platform

_format_secs = periodic_actions._format_secs  # pylint: disable=protected-access  # "1h5m".


class ReportProgress(periodic_actions.ReportProgress):
  """`clu.periodic_actions.ReportProgress` with a run-average ETA."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self._first: tuple[int, float] | None = None  # (step, time) of the first call.

  def _init_and_check(self, step: int, t: float):
    if self._first is None:
      self._first = (step, t)
    super()._init_and_check(step, t)

  def _window_rate(self, step: int, t: float) -> float:
    """Steps per second since the last report."""
    return (step - self._previous_step) / max(t - self._previous_time, 1e-9)

  def message(self, step: int, t: float) -> str:
    """'1.23 steps/s, 40.0% (400/1000), ETA: 8m (12m : 5.0% eval)' at `step`, time `t`."""
    text = f"{self._window_rate(step, t):.3g} steps/s"
    if self._num_train_steps:
      first_step, first_time = self._first
      overall = (step - first_step) / max(t - first_time, 1e-9)
      eta = (self._num_train_steps - step) / max(overall, 1e-9)
      text += (f", {100 * step / self._num_train_steps:.1f}% ({step}/{self._num_train_steps})"
               f", ETA: {_format_secs(eta)}")
    if self._time_per_part:
      total = t - self._t0
      parts = sorted(self._time_per_part.items())
      text += f" ({_format_secs(total)} : " + ", ".join(
          f"{100 * dt / total:.1f}% {name}" for name, dt in parts) + ")"
    return text

  def _apply(self, step: int, t: float):
    platform.work_unit().set_notes(self.message(step, t))
    if self._writer is not None:
      self._writer.write_scalars(step, {"steps_per_sec": self._window_rate(step, t),
                                        "uptime": t - self._t0})

"""The progress line's ETA follows the run's average rate, not the last window's."""

from clu import platform

from htr.progress_report import ReportProgress


def _run(times: list[float], num_train_steps: int, monkeypatch) -> list[str]:
  """Calls the hook after steps 1, 2, ... finishing at `times`; returns the lines written."""
  lines = []
  monkeypatch.setattr(platform.work_unit(), "set_notes", lines.append)
  report = ReportProgress(num_train_steps=num_train_steps, every_steps=10, every_secs=None)
  for step, t in enumerate(times, start=1):
    report(step, t)
  return lines


def test_a_compile_stall_slows_the_window_while_the_eta_settles(monkeypatch):
  # 1 step/s, except that step 20 waits 30 s for a new bucket's compilation.
  times = [float(s) for s in range(1, 41)]
  times[19:] = [t + 30 for t in times[19:]]
  lines = _run(times, 100, monkeypatch)
  assert lines[0] == "1 steps/s, 10.0% (10/100), ETA: 1m"  # 90 steps at 1 step/s.
  # The run's average rate: 80 / (19 steps / 49 s) = 206 s, then 70 / (29 / 59) = 142 s
  # (clu's window alone says 320 s, then 70 s).
  assert lines[1] == "0.25 steps/s, 20.0% (20/100), ETA: 3m"
  assert lines[2] == "1 steps/s, 30.0% (30/100), ETA: 2m"


def test_slow_runs_show_a_nonzero_rate(monkeypatch):
  lines = _run([1.0 + 50 * s for s in range(10)], 1000, monkeypatch)
  assert lines == ["0.02 steps/s, 1.0% (10/1000), ETA: 13h45m"]

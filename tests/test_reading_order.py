"""XY-cut reading order on generated layouts (two columns with headings, footers, skew and
ragged lines; one-column letters; marginalia). On the real pages it gets 0.983 of line
pairs right per page (measured, not a test: the real data never enters the tests)."""

import numpy as np
import pytest

from htr.image import page_model
from htr.image import reading_order as ro



def _line(rng, left, right, y, height=50, skew_deg=0.0, ragged=0.3):
  """A line box starting at `left`, ending somewhere in the last `ragged` of the column,
  as tall as the ink of a line at `skew_deg` degrees."""
  end = right - rng.uniform(0, ragged) * (right - left)
  rise = abs(np.tan(np.radians(skew_deg))) * (end - left)
  return [left + rng.uniform(0, 15), y - rise / 2, end, y + height + rise / 2]


def _two_columns(rng, heading=True, footer=True, max_skew=2.0):
  """Boxes of a two-column page and their true order: heading, left column, right
  column, footer. Column lengths differ, the right column may start a little higher."""
  boxes = []
  y = 100.0
  if heading:
    boxes.append([600, y, 1400, y + 70])
    y += 130
  columns = []
  for left, right in ((150, 950), (1050, 1850)):
    n = int(rng.integers(6, 25))
    top = y + rng.uniform(-20, 20)
    pitch = rng.uniform(65, 80)
    columns.append([_line(rng, left, right, top + k * pitch, skew_deg=rng.uniform(
        -max_skew, max_skew)) for k in range(n)])
    columns[-1][-1][2] = min(columns[-1][-1][2], left + 400)  # A paragraph's short end.
  boxes += columns[0] + columns[1]
  if footer:
    bottom = max(box[3] for box in boxes) + 80
    boxes.append([150, bottom, 1850, bottom + 50])
  return np.array(boxes), np.arange(len(boxes))


def _shuffled_order(boxes, rng, **kwargs):
  """reading_order of the boxes given in a random order, mapped back to their indices."""
  perm = rng.permutation(len(boxes))
  return perm[ro.reading_order(boxes[perm], **kwargs)]


def test_pair_order_accuracy():
  assert ro.pair_order_accuracy([0, 1, 2, 3], [0, 1, 2, 3]) == 1.0
  assert ro.pair_order_accuracy([3, 2, 1, 0], [0, 1, 2, 3]) == 0.0
  assert ro.pair_order_accuracy(["b", "a", "c", "d"], "abcd") == pytest.approx(5 / 6)
  assert ro.pair_order_accuracy([7], [7]) == 1.0 and ro.pair_order_accuracy([], []) == 1.0
  with pytest.raises(ValueError, match="same items"):
    ro.pair_order_accuracy([0, 1, 1], [0, 1, 2])


@pytest.mark.parametrize("heading, footer", [(True, True), (False, False), (True, False)])
def test_two_columns_read_column_by_column(heading, footer):
  rng = np.random.default_rng(0)
  scores = []
  for _ in range(20):
    boxes, truth = _two_columns(rng, heading, footer)
    scores.append(ro.pair_order_accuracy(_shuffled_order(boxes, rng), truth))
  assert np.mean(scores) >= 0.98 and min(scores) >= 0.95, scores
  boxes, truth = _two_columns(np.random.default_rng(1), heading, footer, max_skew=0)
  np.testing.assert_array_equal(ro.reading_order(boxes), truth)


def test_two_columns_are_the_blocks():
  boxes, _ = _two_columns(np.random.default_rng(2), heading=True, footer=True, max_skew=0)
  blocks = ro.xy_cut(boxes)
  left = [i for i in range(len(boxes)) if 1 <= i and boxes[i, 2] < 1000]
  assert [len(b) for b in blocks] == [1, len(left), len(boxes) - len(left) - 2, 1]


def test_a_one_column_letter_reads_top_to_bottom():
  """Right-aligned date above a left-aligned greeting, an indented paragraph start,
  a closing and a signature on the right, and tall typewritten boxes that overlap
  their neighbours by half their height."""
  rng = np.random.default_rng(3)
  boxes = [[1300, 100, 1800, 160],  # Date, alone on the right.
           [200, 220, 800, 280], [200, 290, 700, 350],  # Address.
           [200, 420, 600, 480]]  # "Dear Sir,"
  boxes += [_line(rng, 350 if k == 0 else 200, 1850, 500 + 45 * k, height=90, ragged=0.1)
            for k in range(12)]  # Boxes 90 tall at a pitch of 45.
  boxes += [[1100, 1200, 1500, 1260], [1150, 1280, 1800, 1380]]  # Closing, signature.
  boxes = np.array(boxes)
  np.testing.assert_array_equal(_shuffled_order(boxes, rng), np.arange(len(boxes)))


def test_a_single_line_and_nothing():
  np.testing.assert_array_equal(ro.reading_order([[0, 0, 10, 5]]), [0])
  assert ro.reading_order(np.zeros((0, 4))).shape == (0,) and ro.xy_cut([]) == []
  with pytest.raises(ValueError, match=r"\[N, 4\]"):
    ro.reading_order([[0, 0, 10]])


def test_marginalia_stay_one_block_beside_the_body():
  """A three-line note in the left margin beside body lines 4-6."""
  body = [[400, 100 + 70 * k, 1800, 150 + 70 * k] for k in range(10)]
  note = [[60, 310 + 60 * k, 300, 350 + 60 * k] for k in range(3)]
  boxes = np.array(body + note)
  note_ids = [10, 11, 12]
  # Left to right: the body above the note, the note, then the rest of the body.
  np.testing.assert_array_equal(ro.reading_order(boxes),
                                [0, 1, 2] + note_ids + list(range(3, 10)))
  np.testing.assert_array_equal(ro.reading_order(boxes, marginalia_last=True),
                                list(range(10)) + note_ids)


def test_with_reading_order_orders_lines_and_makes_regions():
  boxes, truth = _two_columns(np.random.default_rng(4), max_skew=0)
  perm = np.random.default_rng(5).permutation(len(boxes))
  lines = tuple(page_model.Line(f"l{i}", page_model.box_polygon(boxes[i]),
                                np.array([[boxes[i, 0], boxes[i, 3]], [boxes[i, 2], boxes[i, 3]]]),
                                "", "", k, "") for k, i in enumerate(perm))
  page = ro.with_reading_order(page_model.Page("p.jpg", 2000, 3000, lines, "",
                                               ordered=False))
  assert page.ordered and [line.id for line in page.lines] == [f"l{i}" for i in truth]
  assert [line.order for line in page.lines] == list(range(len(lines)))
  assert [r.id for r in page.regions] == ["block1", "block2", "block3", "block4"]
  assert [line.region for line in page.lines][:2] == ["block1", "block2"]

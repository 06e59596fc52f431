"""Character n-gram language model with interpolated Kneser-Ney smoothing.

Built for CTC shallow fusion: the beam search asks for the distribution over
every next character after each prefix in its beam, so the model answers
`batch_log_probs(contexts)` as one [N, V] array (cached per context) rather than
one character at a time.

Symbols are ids: 0 = BOS (context padding only, never predicted), 1 = EOS
(written as "\n", the end of a line), 2 = UNK (characters never seen in
training; it gets only the uniform share of the probability mass), 3.. = the
characters seen in training, sorted. Every line is left-padded with order - 1
BOS so the first characters have full-length contexts of their own.

N-grams are counted with numpy: an n-gram is the integer whose base-`V`
digits are its symbol ids, so counting is `np.unique`. The n-grams of one
context are contiguous in the sorted codes of their order, so a query is one
binary search per order for the context's range, vectorised over all orders
and all the contexts asked for at once.

Smoothing follows Chen & Goodman (1998), interpolated Kneser-Ney with one
discount per order, D = n1 / (n1 + 2 n2): the highest order uses raw counts,
lower orders count distinct left extensions, except n-grams starting with BOS,
which have no left extension and keep raw counts (as in KenLM). The lowest
order interpolates with the uniform distribution, so every symbol but BOS has
non-zero probability and the distribution sums to one.

To write the offline default English model:
  python -m htr.decode.lm --output=/tmp/en_char6.npz --order=6
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from htr.errors import InputError

BOS, EOS, UNK = 0, 1, 2
EOS_CHAR = "\n"
_SPECIALS = 3
_CACHE_SIZE = 1 << 16


class CharNgramLM:
  """Interpolated Kneser-Ney character n-gram model.

  Attributes:
    order: n, the longest n-gram (context length is n - 1).
    chars: the characters seen in training, sorted; character `chars[i]` has id i + 3.
    discounts: the Kneser-Ney discount of each order, [order].
  """

  def __init__(self, order: int, chars: str, discounts: np.ndarray,
               codes: list[np.ndarray], counts: list[np.ndarray]):
    """Use `train` or `load`; `codes[n - 1]`, `counts[n - 1]` hold the n-grams of order n."""
    self.order = order
    self.chars = chars
    self.discounts = np.asarray(discounts, np.float64)
    self._codes = [np.asarray(c, np.int64) for c in codes]
    self._counts = [np.asarray(c, np.int64) for c in counts]
    self._ids = {c: i + _SPECIALS for i, c in enumerate(chars)} | {EOS_CHAR: EOS}
    # Query tables. All n-grams, order by order, in one array each: their next symbol
    # and discounted count. All contexts (of every order, keyed by code * order +
    # their length) sorted, each with the range of its n-grams and their total count.
    base = self.vocab_size
    self._powers = base ** np.arange(order - 1, dtype=np.int64)
    self._next = np.concatenate(self._codes) % base
    self._discounted = np.concatenate([c - d for c, d in zip(self._counts, self.discounts)])
    keys, starts, sizes, totals = [], [], [], []
    offset = 0
    for n, (code, count) in enumerate(zip(self._codes, self._counts)):
      contexts, first, size = np.unique(code // base, return_index=True, return_counts=True)
      keys.append(contexts * order + n)
      starts.append(first + offset)
      sizes.append(size)
      totals.append(np.add.reduceat(count, first))
      offset += len(code)
    by_key = np.argsort(np.concatenate(keys))
    self._keys, self._starts, self._sizes, self._totals = (
        np.concatenate(a)[by_key] for a in (keys, starts, sizes, totals))
    self._cache: dict[str, np.ndarray] = {}  # context -> log_probs; cleared when full

  @property
  def vocab_size(self) -> int:
    """Number of symbol ids, BOS included; also the base of the n-gram codes."""
    return _SPECIALS + len(self.chars)

  # -- training ---------------------------------------------------------------
  @classmethod
  def train(cls, lines: Iterable[str], order: int = 6) -> CharNgramLM:
    """Counts n-grams of every order in `lines` (one text line each) and smooths them."""
    if order < 1:
      raise InputError(f"n-gram order must be >= 1, got {order}")
    text = "\n".join(line.rstrip("\n") for line in lines)
    if not text:
      raise InputError("cannot train a language model on no text")
    points = np.frombuffer((text + "\n").encode("utf-32-le"), np.uint32)
    alphabet, ids = np.unique(points, return_inverse=True)
    is_eos = alphabet == ord("\n")
    # Map code points to ids: newline -> EOS, characters -> 3.. in sorted order.
    id_of = np.cumsum(~is_eos) - 1 + _SPECIALS
    id_of[is_eos] = EOS
    ids = id_of[ids].astype(np.int64)
    chars = "".join(map(chr, alphabet[~is_eos]))
    base = _SPECIALS + len(chars)
    # N-gram codes are < base ** order; context keys (code * order + length) smaller still.
    if float(base) ** order * order >= 2.0 ** 63:
      raise InputError(f"{len(chars)} distinct characters are too many for order {order}")
    # Left-pad every line with order - 1 BOS.
    starts = np.concatenate([[0], np.flatnonzero(ids == EOS)[:-1] + 1])
    ids = np.insert(ids, np.repeat(starts, order - 1), BOS)

    # Every n-gram ends at a non-BOS position; padding keeps it inside its line.
    ends = np.flatnonzero(ids != BOS)
    raw_codes, raw_counts = [], []
    code = np.zeros(len(ends), np.int64)
    for n in range(1, order + 1):
      code += ids[ends - n + 1] * base ** (n - 1)
      uniq, cnt = np.unique(code, return_counts=True)
      raw_codes.append(uniq)
      raw_counts.append(cnt)

    codes, counts = [raw_codes[-1]], [raw_counts[-1]]
    for n in range(order - 1, 0, -1):
      # Continuation count of an n-gram: distinct (n+1)-grams ending with it.
      suffixes, continuation = np.unique(raw_codes[n] % base ** n, return_counts=True)
      assert np.array_equal(suffixes, raw_codes[n - 1])
      starts_with_bos = raw_codes[n - 1] < base ** (n - 1) if n > 1 else False
      codes.insert(0, raw_codes[n - 1])
      counts.insert(0, np.where(starts_with_bos, raw_counts[n - 1], continuation))

    discounts = []
    for cnt in counts:
      n1, n2 = np.sum(cnt == 1), np.sum(cnt == 2)
      # Tiny corpora may lack singletons or doubletons; 0.5 is a safe middle.
      discounts.append(n1 / (n1 + 2 * n2) if n1 and n2 else 0.5)
    return cls(order, chars, np.array(discounts), codes, counts)

  # -- queries ----------------------------------------------------------------
  def index(self, chars: Iterable[str]) -> np.ndarray:
    """Symbol ids of characters (unknown ones -> UNK, "\\n" -> EOS), to gather `log_probs`."""
    return np.array([self._ids.get(c, UNK) for c in chars], np.int64)

  def log_probs(self, context: str) -> np.ndarray:
    """Natural-log distribution over all symbol ids after `context` (text since line start).

    Only the last order - 1 characters matter; shorter contexts are taken to start
    the line.
    """
    return self.batch_log_probs([context])[0]

  def batch_log_probs(self, contexts: Sequence[str]) -> np.ndarray:
    """`log_probs` of many contexts, [N, vocab_size]; the cache misses share one numpy pass."""
    keys = [c[max(len(c) - self.order + 1, 0):] for c in contexts]
    missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
    if missing:
      if len(self._cache) + len(missing) > _CACHE_SIZE:
        self._cache.clear()  # Then every key of this call is missing again.
        missing = list(dict.fromkeys(keys))
      self._cache.update(zip(missing, self._log_probs(missing)))
    return np.array([self._cache[k] for k in keys]).reshape(len(keys), self.vocab_size)

  def _log_probs(self, contexts: list[str]) -> np.ndarray:
    """Vectorised over contexts: a fixed number of numpy calls for any number of them."""
    base, num = self.vocab_size, len(contexts)
    history = np.full((num, self.order - 1), BOS, np.int64)
    for j, context in enumerate(contexts):
      if context:
        history[j, -len(context):] = [self._ids.get(c, UNK) for c in context]
    # codes[:, n]: the context of order n + 1 (its last n symbols) as a number.
    codes = np.zeros((num, self.order), np.int64)
    codes[:, 1:] = np.cumsum(history[:, ::-1] * self._powers, axis=1)
    keys = codes * self.order + np.arange(self.order)
    rows = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
    # An unseen context has no longer seen context either; UNK is never seen.
    seen = np.cumprod(self._keys[rows] == keys, axis=1).astype(bool)
    starts = self._starts[rows]
    sizes = np.where(seen, self._sizes[rows], 0)
    totals = np.where(seen, self._totals[rows], 1.0)
    # Unrolled interpolation: order n contributes (c - D) / total, scaled by the
    # backoff weights D * types / total of all its longer contexts; whatever weight
    # is left goes to the uniform distribution.
    backoff = np.where(seen, self.discounts * sizes / totals, 1.0)
    longer = np.cumprod(backoff[:, ::-1], axis=1)[:, ::-1]
    scales = np.concatenate([longer[:, 1:], np.ones((num, 1))], axis=1) / totals
    # Gather the n-grams of every (context, order) at once: a ragged arange.
    sizes, starts, scales = sizes.ravel(), starts.ravel(), scales.ravel()
    entries = np.arange(sizes.sum()) + np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
    row_offsets = np.repeat(np.arange(num * self.order) // self.order * base, sizes)
    probs = np.bincount(self._next[entries] + row_offsets,
                        self._discounted[entries] * np.repeat(scales, sizes),
                        minlength=num * base).reshape(num, base)
    probs += longer[:, :1] / (base - 1)
    probs[:, BOS] = 0.0
    with np.errstate(divide="ignore"):
      return np.log(probs)

  def log_prob(self, context: str, char: str) -> float:
    """log P(char | context); `char` "\\n" is the end of the line."""
    return float(self.log_probs(context)[self._ids.get(char, UNK)])

  def score(self, text: str, *, eos: bool = True) -> float:
    """Natural-log probability of a line, with its end unless `eos=False`."""
    ids = self.index(text + EOS_CHAR if eos else text)
    log_probs = self.batch_log_probs([text[:i] for i in range(len(ids))])
    return float(log_probs[np.arange(len(ids)), ids].sum())

  # -- files ------------------------------------------------------------------
  def save(self, path: str | os.PathLike) -> None:
    """Writes a compressed .npz (n-gram codes and counts per order)."""
    arrays = {f"codes_{n}": c for n, c in enumerate(self._codes, 1)}
    arrays |= {f"counts_{n}": c for n, c in enumerate(self._counts, 1)}
    with open(path, "wb") as f:
      np.savez_compressed(f, order=self.order, chars=np.array(self.chars),
                          discounts=self.discounts, **arrays)

  @classmethod
  def load(cls, path: str | os.PathLike) -> CharNgramLM:
    try:
      with np.load(path, allow_pickle=False) as f:
        order = int(f["order"])
        return cls(order, str(f["chars"]), f["discounts"],
                   [f[f"codes_{n}"] for n in range(1, order + 1)],
                   [f[f"counts_{n}"] for n in range(1, order + 1)])
    except (OSError, KeyError, ValueError) as e:
      raise InputError(f"not a character n-gram model: {e}", path=path) from e


def wordfreq_lines(num_lines: int, *, lang: str = "en", vocabulary_size: int = 50_000,
                   seed: int = 0) -> list[str]:
  """Pseudo-text lines of words drawn by their `wordfreq` frequency (no download needed).

  Words are independent draws, so only spelling and short-range word statistics
  are realistic. Sentences get a capital first letter, occasional commas and a
  final . ? or !, and are cut into lines of 3-10 words, so that capitals and
  punctuation in handwritten lines are not out-of-vocabulary for the model.
  wordfreq lowercases everything, so "i" and its contractions are capitalised;
  words with symbols (emoji, arrows) are left out.
  """
  import wordfreq  # pylint: disable=g-import-not-at-top  # only for training.

  rng = np.random.default_rng(seed)
  words = [w for w in wordfreq.top_n_list(lang, vocabulary_size)
           if all(c.isalnum() or c in "'-.&" for c in w)]
  if lang == "en":
    words = [w[:1].upper() + w[1:] if w == "i" or w.startswith("i'") else w for w in words]
  freqs = np.array([wordfreq.word_frequency(w, lang) for w in words])
  line_lengths = rng.integers(3, 11, num_lines)
  draws = rng.choice(len(words), size=line_lengths.sum(), p=freqs / freqs.sum())
  sentence_start = np.concatenate([[True], rng.random(len(draws) - 1) < 1 / 12])
  comma = rng.random(len(draws)) < 0.06
  ends = rng.choice([".", "?", "!"], size=len(draws), p=[0.85, 0.1, 0.05])
  tokens = []
  for i, w in enumerate(words[j] for j in draws):
    if sentence_start[i]:
      w = w[:1].upper() + w[1:]
    if i + 1 < len(draws) and sentence_start[i + 1]:
      w += ends[i]
    elif comma[i]:
      w += ","
    tokens.append(w)
  cuts = np.cumsum(line_lengths)[:-1]
  return [" ".join(line) for line in np.split(np.array(tokens, dtype=object), cuts)]


def train_from_wordfreq(order: int = 6, *, num_lines: int = 200_000, lang: str = "en",
                        vocabulary_size: int = 50_000, seed: int = 0) -> CharNgramLM:
  """An offline default LM: `CharNgramLM.train` on `wordfreq_lines`."""
  return CharNgramLM.train(wordfreq_lines(num_lines, lang=lang, vocabulary_size=vocabulary_size,
                                          seed=seed), order)


if __name__ == "__main__":
  from absl import app, flags  # pylint: disable=g-import-not-at-top

  _OUTPUT = flags.DEFINE_string("output", None, "Where to write the .npz model.", required=True)
  _ORDER = flags.DEFINE_integer("order", 6, "n-gram order.")
  _NUM_LINES = flags.DEFINE_integer("num_lines", 200_000, "Pseudo-text lines to train on.")

  def _main(argv):
    del argv
    train_from_wordfreq(_ORDER.value, num_lines=_NUM_LINES.value).save(_OUTPUT.value)

  app.run(_main)

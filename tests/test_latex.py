"""LaTeX tokens, the normaliser and the vocabulary, on real MathWriting and CROHME labels."""

import numpy as np
import pytest

from htr.text import latex

# (label, normalizedLabel) pairs of real MathWriting samples (formats/samples/mathwriting).
MATHWRITING = (
    (r"\tilde E = E \times \mathbb{Z}_{n}", r"\tilde{E}=E\times\mathbb{Z}_{n}"),
    (r"\tilde{\varphi}:\mathbb{S}^\lambda E \to M",
     r"\tilde{\varphi}:\mathbb{S}^{\lambda}E\rightarrow M"),
    (r"\frac{1}{16}\left[\begin{array}{ccccc}-&\# &7 \\ 3 &5 &1 \end{array}\right]",
     r"\frac{1}{16}[\begin{matrix}-&\#&7\\ 3&5&1\end{matrix}]"),
    (r"[g^{ij}]=\frac{1}{g}\frac{\partial g}{\partial g_{ij}}",
     r"[g^{ij}]=\frac{1}{g}\frac{\partial g}{\partial g_{ij}}"),
    (r"K=Q(\sqrt{-d})d>0", r"K=Q(\sqrt{-d})d>0"),
)

# CROHME truth annotations (spaced, `$`-wrapped, \limits, \mbox) and the same meaning
# written MathWriting's way.
EQUIVALENT = (
    (r" \frac { \pi r ^ 2 h } { 3 } ", r"\frac{\pi r^{2}h}{3}"),
    (r"$\int\limits_{0}^{\infty} \frac{\sin^{2} x}{{x^{2}}} dx = \frac{\pi}{2}$",
     r"\int_{0}^{\infty}\frac{\sin^{2}x}{x^{2}}dx=\frac{\pi}{2}"),
    (r" \left ( { \mbox { F } \mbox { t } } \right ) ", r"(Ft)"),
    (r" { { h + e } \geq \left [ z \right ] } ", r"h+e\geq[z]"),
    (r"$\lim_{x \to +\infty}f(x) = l$", r"\lim_{x\rightarrow+\infty}f(x)=l"),
    (r"$M\ltN$", r"M<N"),
    (r"x^{2}_{i}", r"x_{i}^{2}"),
    (r"{ \left ( t \right ) } ^ { \mbox { l } }", r"(t)^{l}"),  # Same ink.
    (r"\dfrac ab", r"\frac{a}{b}"),
    (r"\begin{pmatrix} a & b \end{pmatrix}", r"(\begin{matrix}a&b\end{matrix})"),
    (r"\left. \frac{d}{dx} \right|_{0}", r"\frac{d}{dx}|_{0}"),
    (r"a \le b \, , \quad c \ne d", r"a\leq b,c\neq d"),
)

# Different meanings must stay different.
DIFFERENT = (
    (r"x^{23}", r"x^{2}3"),
    (r"{x^{2}}^{3}", r"x^{2}3"),
    (r"\sqrt[3]{x}", r"\sqrt{3x}"),
    (r"x_{i}^{2}", r"x_{i^{2}}"),
    (r"\frac{a}{b}c", r"\frac{a}{bc}"),
)


def test_tokenize_splits_commands_escapes_and_characters():
  assert latex.tokenize(r"\tilde E = E \times \mathbb{Z}_{n}") == [
      "\\tilde", "E", "=", "E", "\\times", "\\mathbb", "{", "Z", "}", "_", "{", "n", "}"]
  assert latex.tokenize(r"-&\# &7 \\ 3 \%\{") == [
      "-", "&", "\\#", "&", "7", "\\\\", "3", "\\%", "\\{"]
  assert latex.tokenize(r"\sqrt{-d})d>0") == ["\\sqrt", "{", "-", "d", "}", ")", "d", ">", "0"]
  assert latex.tokenize("  \t\n") == []


@pytest.mark.parametrize("label,normalized", MATHWRITING)
def test_mathwriting_label_and_normalized_label_agree(label, normalized):
  assert latex.normalize(label) == latex.normalize(normalized)


@pytest.mark.parametrize("crohme,mathwriting", EQUIVALENT)
def test_equivalent_spellings_normalise_equal(crohme, mathwriting):
  assert latex.normalize(crohme) == latex.normalize(mathwriting)


@pytest.mark.parametrize("a,b", DIFFERENT)
def test_different_meanings_stay_different(a, b):
  assert latex.normalize(a) != latex.normalize(b)


def test_normal_form_is_spaced_tokens_and_a_fixed_point():
  out = latex.normalize(r"$\frac {V}{T} = \frac {nR}{p}$")
  assert out == r"\frac { V } { T } = \frac { n R } { p }"
  for label, _ in MATHWRITING + EQUIVALENT:
    once = latex.normalize(label)
    assert latex.normalize(once) == once
    assert once == " ".join(latex.tokenize(once))


def test_unparseable_labels_still_normalise():
  # A decoder's bad guess: unbalanced braces, a dangling script.
  assert latex.normalize(r"\frac{a}{b") == r"\frac { a } { b"
  assert latex.normalize(r"x^") == "x ^"
  assert latex.normalize(r"a } \to b") == r"a } \rightarrow b"


@pytest.mark.parametrize("label", [r"\frac{" * 400 + "x" + "}" * 400,
                                   r"\sqrt" * 1000 + "x", "x^{" * 1000 + "y" + "}" * 1000])
def test_absurdly_nested_labels_still_normalise(label):
  # Python's recursion limit is 1,000 frames: deeper parses are given up.
  assert latex.normalize(label) == " ".join(latex.tokenize(label))


def test_scripts_on_empty_bases():
  assert latex.normalize(r"{}^{14}C") == latex.normalize(r"^{14}C") == "{ } ^ { 1 4 } C"


def test_vocabulary_is_deterministic_and_counts():
  labels = [r"x^{2}", r"\alpha+x", r"x_{i}"]
  vocab = latex.Vocabulary.from_labels(labels)
  assert vocab.tokens[:4] == ("<pad>", "<bos>", "<eos>", "<unk>")
  assert vocab.tokens[4] == "x"  # Most frequent first.
  assert vocab.tokens[5:7] == ("{", "}")  # Ties by token.
  assert latex.Vocabulary.from_labels(reversed(labels)) == vocab
  assert len(vocab) == 4 + len({t for label in labels for t in latex.tokenize(label)})
  rare = latex.Vocabulary.from_labels(labels, min_count=2)
  assert set(rare.tokens[4:]) == {"x", "{", "}"}


def test_encode_decode_round_trip_and_unknowns():
  labels = [latex.normalize(label) for _, label in MATHWRITING]
  vocab = latex.Vocabulary.from_labels(labels)
  for label in labels:
    ids = vocab.encode(label)
    assert ids.dtype == np.int32 and (ids >= 4).all()
    assert vocab.decode(ids) == label
  ids = vocab.encode(r"\frac{\aleph}{1}")
  assert ids[2] == latex.UNK
  assert vocab.decode(ids) == r"\frac { <unk> } { 1 }"


def test_decode_stops_at_eos_and_skips_padding():
  vocab = latex.Vocabulary.from_labels(["a+b"])
  a, plus, b = vocab.encode("a+b")
  assert vocab.decode([latex.BOS, a, plus, b, latex.EOS, a, latex.PAD]) == "a + b"
  assert vocab.decode(np.array([latex.BOS, a, latex.PAD, latex.PAD])) == "a"


def test_json_round_trip():
  vocab = latex.Vocabulary.from_labels([r"\alpha^{2}", "é"])
  again = latex.Vocabulary.from_json(vocab.to_json())
  assert again == vocab and again.tokens == vocab.tokens
  with pytest.raises(ValueError, match="starts with"):
    latex.Vocabulary(("a", "b"))

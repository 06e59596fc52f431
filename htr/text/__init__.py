"""Vocabularies: alphabets, character sets and the LaTeX tokenizer (below ink/, data/, tasks/)."""

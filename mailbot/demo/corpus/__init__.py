"""Realistic mails for `mailbot demo` and the integration tests: deterministic per seed, stdlib only."""

from mailbot.demo.corpus.build import build_corpus
from mailbot.demo.corpus.keywords import keyword_variants, negative_variants
from mailbot.demo.corpus.model import KINDS, CorpusMail

__all__ = ["KINDS", "CorpusMail", "build_corpus", "keyword_variants", "negative_variants"]

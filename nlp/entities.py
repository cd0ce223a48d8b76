"""Caller name and phone number from a call transcript: one import for both.

The parts live by job: nlp/names.py (surname + 先生/女士; nlp/surnames.py the tables, homophones
and spellings), nlp/phones.py (the phone number; what counts as one is stt/phone_numbers.py),
nlp/numerals.py (Chinese numerals: 幺三九, 五零二室). Every result is an ``Entity`` (nlp/entity.py)
with a confidence and a [start, end) span into the text it was given.
"""
from __future__ import annotations

from nlp.entity import Entity
from nlp.names import Name, extract_name
from nlp.numerals import cn_numbers_to_digits, cn_to_int
from nlp.phones import extract_phone, phone_candidates

__all__ = ["Entity", "Name", "extract_name", "extract_phone", "phone_candidates", "cn_numbers_to_digits",
           "cn_to_int"]

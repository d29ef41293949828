"""Domain text the tiny model's tokenizer is trained on.

The ``*.txt`` files here are committed build inputs: ``make_corpus.py``
regenerates ``freight.txt`` deterministically, the others are written by hand.
This directory is a package only so that setuptools ships the text files.
"""

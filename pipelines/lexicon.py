"""Word knowledge that more than one stage needs, kept in one place."""

from __future__ import annotations

import re

# Endings of nationality and group words ("American", "Israeli", "Japanese", "British", "Dutch",
# "Arabic"): they pluralise ("Americans"), so an "-s" after them is not a lost apostrophe, and as
# a title modifier ("Russian President") they are not part of a name.
DEMONYM_ENDING = re.compile(r"(?:an|ese|ish|i|ic|ch)$", re.IGNORECASE)

"""Text that XML 1.0 can carry: characters it forbids are replaced by their escaped code point."""
from __future__ import annotations

import re

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _FORBIDDEN.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))

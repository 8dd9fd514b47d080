"""Forbidden-content detection for agent messages and masking of contact details (DOMAIN.md §4).

Pure package: no faust, Kafka or Prometheus imports, no clock. Typical use::

    detector = Detector.from_settings(settings.content)
    violations = detector.scan(text, mode=policy.content_mode, first_reply=is_first)
    shown = detector.mask(buyer_text)
"""

from stream.core import NATIVE, NATIVE_DIR

if NATIVE:  # the compiled modules first, as for stream.core (stream/core/__init__.py)
    __path__.insert(0, str(NATIVE_DIR / "content"))

from stream.core.content.detector import CONTACT_CATEGORIES, MODES, Detector, Violation  # noqa: E402
from stream.core.content.masking import mask_value  # noqa: E402

__all__ = ["CONTACT_CATEGORIES", "MODES", "Detector", "Violation", "mask_value"]

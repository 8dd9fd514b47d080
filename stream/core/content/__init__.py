"""Forbidden-content detection for agent messages and masking of contact details (DOMAIN.md §4).

Pure package: no faust, Kafka or Prometheus imports, no clock. Typical use::

    detector = Detector.from_settings(settings.content)
    violations = detector.scan(text, mode=policy.content_mode, first_reply=is_first)
    shown = detector.mask(buyer_text)
"""

from stream.core.content.detector import CONTACT_CATEGORIES, MODES, Detector, Violation
from stream.core.content.masking import mask_value

__all__ = ["CONTACT_CATEGORIES", "MODES", "Detector", "Violation", "mask_value"]

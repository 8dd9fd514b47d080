"""Regenerate the committed table ``t2s.json`` (run by hand, rarely).

    python -m stream.core.content.data.generate_tables

Needs the dev dependency ``opencc-python-reimplemented``; the detector only reads the JSON file
this writes. (Homophones are no longer a committed table: the detector reads every character's
sound from ``pypinyin`` when it is built, see ``stream/core/content/sounds.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Write the table next to this file."""
    import opencc  # type: ignore[import-untyped,import-not-found,unused-ignore]

    conv = opencc.OpenCC("t2s")
    pairs: list[str] = []
    for ranges in ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00)):
        for cp in range(*ranges):
            ch = chr(cp)
            simple = conv.convert(ch)
            if simple != ch and len(simple) == 1:
                pairs.append(ch + simple)
    (HERE / "t2s.json").write_text(json.dumps({"pairs": "".join(pairs)}, ensure_ascii=False),
                                   encoding="utf-8")
    print(f"t2s: {len(pairs)} characters")


if __name__ == "__main__":
    main()

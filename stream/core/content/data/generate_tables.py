"""Regenerate the committed tables ``t2s.json`` and ``homophones.json`` (run by hand, rarely).

    python -m stream.core.content.data.generate_tables

Needs the dev dependencies ``opencc-python-reimplemented`` and ``pypinyin``; the detector itself
only reads the JSON files this writes, so neither library is imported at run time.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Keyword -> the syllables whose homophones stand in for it (威信/薇信 -> 微信, 只付包 -> 支付宝).
KEYWORDS = {"微信": ("wei", "xin"), "扣扣": ("kou", "kou"), "支付宝": ("zhi", "fu", "bao")}

# Characters too common in ordinary sentences to stand in for a keyword syllable: with them
# "作为新客户" would read as 微信. Obfuscators avoid them anyway (the point is to stay readable).
STOP = set("为位未味围委尾胃谓喂慰畏伟卫尉"  # wei
           "只之值制指直至致止治置职质志执智植址殖滞秩稚窒趾侄峙痔掷挚炙帜"  # zhi
           "夫妇父府负服复副富福附赴赋覆辅腹扶浮佛伏俯弗幅符缚肤腐腑釜阜讣袱拂孵俘敷氟涪斧甫抚咐"  # fu
           "报保包抱暴爆薄饱胞堡褒雹苞"  # bao
           "口")  # kou ("口口" is the usual QQ spelling but "入口口感" is ordinary text)


# Ordinary words that pypinyin's phrase table (which lists only words read unusually) lacks.
COMMON_WORDS = ("维新 唯心 违心 维修 维护 危险 威胁 微笑 微波 微小 尾款 新款 新品 心意 心情 信息 "
                "信用 信任 信誉 信号 新鲜 芯片 包装 包括 包含 包邮 包裹 保证 保障 保险 保修 保质 "
                "保存 宝贝 宝宝 报价 报名 付款 付费 支持 支付 知道 纸箱 织物 扣款 扣除 扣分 扣子 "
                "纸巾 指甲 脂肪 枝条 芝士 汁水 蜘蛛 肢体 直播").split()


def _gb2312(ch: str) -> bool:
    try:
        return len(ch.encode("gb2312")) == 2
    except UnicodeEncodeError:
        return False


def main() -> None:
    """Write both tables next to this file."""
    import opencc  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from pypinyin import lazy_pinyin  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from pypinyin.phrases_dict import phrases_dict  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from pypinyin.pinyin_dict import pinyin_dict  # type: ignore[import-untyped,import-not-found,unused-ignore]

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

    by_syllable: dict[str, list[str]] = {}
    for cp in sorted(pinyin_dict):
        ch = chr(cp)
        if not _gb2312(ch) or ch in STOP:
            continue
        by_syllable.setdefault(lazy_pinyin(ch)[0], []).append(ch)
    classes: dict[str, str] = {}  # canonical char -> the characters read like it
    for word, syllables in KEYWORDS.items():
        for canon, syllable in zip(word, syllables, strict=True):
            classes[canon] = "".join(sorted(set(by_syllable.get(syllable, [])) | {canon}))
    members = set("".join(classes.values()))
    # Two-character words that begin or end with a class member: a homophone hit whose edge
    # forms such a word with its neighbour ("支付包装") is ordinary text, not a keyword.
    words = sorted({w for w in list(phrases_dict) + COMMON_WORDS
                    if len(w) == 2 and (w[0] in members or w[1] in members)})
    doc = {"keywords": {w: list(s) for w, s in KEYWORDS.items()}, "classes": classes,
           "words": "".join(words)}
    (HERE / "homophones.json").write_text(json.dumps(doc, ensure_ascii=False, indent=0),
                                          encoding="utf-8")
    print(f"t2s: {len(pairs)} characters; homophone words: {len(words)}")


if __name__ == "__main__":
    main()
